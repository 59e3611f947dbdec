"""Where requests come from: new networks and clients, moving sessions, two places at once."""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

import msgspec

from vigile.detect.detectors.base import DetectorBase, Env, Finding, durations, register
from vigile.detect.facts import Facts, Tracker
from vigile.detect.rules import Rule, Seconds
from vigile.events import AccessEvent


class NewNetwork(msgspec.Struct, forbid_unknown_fields=True):
    #: also require the network to be new to the practice
    new_to_practice: bool
    #: only judge events that carry patient data (reads, lists, exports)
    data_only: bool


class DataOnly(msgspec.Struct, forbid_unknown_fields=True):
    data_only: bool


class ScriptedAgent(msgspec.Struct, forbid_unknown_fields=True):
    #: pieces of user agents (compared in lower case) that HTTP libraries, command-line
    #: tools and browser automation send, never the vendor's clients
    agents: list[str]
    data_only: bool


class SessionMoved(msgspec.Struct, forbid_unknown_fields=True):
    pass


class SharedSource(msgspec.Struct, forbid_unknown_fields=True):
    #: other practices that used the network within ``lookback``
    min_other_tenants: int
    lookback: Seconds
    data_only: bool


class FingerprintDetector(DetectorBase):
    """The client fingerprint of an account, its sessions, and the sources it shares.

    Modes:

    * ``new-network`` – an account with history acts from a network (IPv4 /24,
      IPv6 /48) it never used, optionally one its practice never used either;
    * ``new-agent`` – ... with a user agent it never used;
    * ``scripted-agent`` – a person's account driven by a script: the user agent of an
      HTTP library, a command-line tool or browser automation (``python-requests``,
      ``curl``, ``HeadlessChrome``...), judged whenever the fingerprint changes (new
      session, network or client), new accounts included;
    * ``session-moved`` – one session id used from a second network or client: an
      address change (home broadband, mobile) or a replayed token - a weak sign alone;
    * ``session-shared`` – the session goes back and forth between two networks
      within the concurrency window, or is used by a second account: one token in two
      places at once, a replayed or stolen token;
    * ``concurrent`` – patient data read from one network while the same account
      is active from another one: two places at once;
    * ``shared-source`` – the network was used by accounts of other practices within
      the window: residential proxies or a shared attack infrastructure.

    Only established accounts (``min_history_days`` of activity) are judged: a new
    account has no fingerprint yet.
    """

    name: ClassVar[str] = "fingerprint"
    actions: ClassVar[frozenset[str] | None] = None
    modes: ClassVar[tuple[str, ...] | None] = (
        "new-network",
        "new-agent",
        "scripted-agent",
        "session-moved",
        "session-shared",
        "concurrent",
        "shared-source",
    )

    mode_params: ClassVar[dict[str, type]] = {
        "new-network": NewNetwork,
        "new-agent": DataOnly,
        "scripted-agent": ScriptedAgent,
        "session-moved": SessionMoved,
        "session-shared": SessionMoved,
        "concurrent": DataOnly,
        "shared-source": SharedSource,
    }

    @staticmethod
    def _session_reasons(mode: str, ses: Any, f: Facts, ua: str | None) -> list[str]:
        if ses.key != f.key:
            return [
                f"session used by a second account (it belongs to {ses.key[1]}): a replayed or "
                "stolen session token"
            ]
        agent = " with another user agent" if ses.ua is not None and ua != ses.ua else ""
        if mode == "session-shared":
            return [
                f"session used from {f.net} again after {ses.cur}{agent}, back and forth within "
                f"{durations(f.t - ses.switch_t)}: one token in two places at once (replayed or "
                "stolen)"
            ]
        return [
            f"session started from {ses.net or 'an unknown address'} {durations(f.t - ses.first)} "
            f"ago is now used from {f.net or 'another client'}{agent} (last request from "
            f"{ses.cur or 'there'} {durations(max(0.0, f.t - ses.last))} ago): an address "
            "change, or a replayed token"
        ]

    def __init__(self, rules: list[Rule], env: Env) -> None:
        super().__init__(rules, env)
        #: the rules that only judge events carrying patient data (looked up once: a
        #: missing attribute costs an exception per event)
        self._data_only = frozenset(
            r.id for r in self.rules if getattr(r.params, "data_only", False)
        )
        #: user agent -> the scripted tool it names ("" for none)
        self._tools: dict[str, str] = {}
        if env.tracker is None:
            raise ValueError("the fingerprint detector needs the engine's tracker")
        self.tracker: Tracker = env.tracker

    def _scripted(self, ua: str | None, agents: list[str]) -> str:
        """The piece of ``agents`` found in ``ua`` (lower case), or ""; memoised."""
        if not ua:
            return ""
        found = self._tools.get(ua)
        if found is None:
            low = ua.lower()
            found = next((a for a in agents if a in low), "")
            if len(self._tools) > 10_000:
                self._tools.clear()
            self._tools[ua] = found
        return found

    def score(self, ev: AccessEvent, f: Facts) -> list[Finding] | None:
        data = f.single or f.bulk
        if not f.changed and not (data and f.established and f.acc.other_until >= f.t):
            return None
        other = self.tracker.concurrent(f) if data and f.established else ""
        if not (f.changed or other):
            return None
        acc = f.acc
        out: list[Finding] | None = None
        for rule in self.rules_for(acc.tenant, acc.role):
            p = rule.params
            if not data and rule.id in self._data_only:
                continue
            mode = rule.mode
            finding = None
            if mode == "concurrent" and (not other or self.muted(rule, f, (f.net, other))):
                continue
            if mode == "new-network":
                if f.net_new_acc and f.status < 400 and (f.net_new_tenant or not p.new_to_practice):
                    finding = Finding(
                        rule,
                        1.0,
                        [
                            f"first request from network {f.net} for this account"
                            + (" and for its practice" if f.net_new_tenant else "")
                            + f" after {acc.days} active days using {len(acc.nets)} other "
                            "network(s)"
                        ],
                        {
                            "network": f.net,
                            "new_to_practice": f.net_new_tenant,
                            "known_networks": len(acc.nets),
                            "active_days": acc.days,
                        },
                        key=f.net,
                    )
            elif mode == "new-agent":
                if f.ua_new and f.status < 400:
                    finding = Finding(
                        rule,
                        1.0,
                        [
                            f"first request with user agent {f.ua!r} for this account "
                            f"(known: {len(acc.uas)})"
                        ],
                        {"user_agent": f.ua, "known_agents": len(acc.uas)},
                        key=f.ua,
                    )
            elif mode == "scripted-agent":
                tool = self._scripted(f.ua, p.agents)
                if tool and f.status < 400:
                    finding = Finding(
                        rule,
                        1.0,
                        [
                            f"user agent {f.ua!r} is {tool!r}, a script or automation "
                            "tool, on a person's account" + (" new to it" if f.ua_new else "")
                        ],
                        {"user_agent": f.ua, "tool": tool, "new_to_account": f.ua_new},
                        key=f.ua,
                    )
            elif mode in ("session-moved", "session-shared"):
                ses = f.ses
                hit = f.session_shared if mode == "session-shared" else f.session_moved
                if hit and ses is not None:
                    finding = Finding(
                        rule,
                        1.0,
                        partial(self._session_reasons, mode, ses, f, f.ua),
                        {
                            "session_network": ses.net,
                            "previous_network": ses.cur,
                            "network": f.net,
                            "session_age_s": round(f.t - ses.first, 1),
                            "other_account": ses.key != f.key,
                            "user_agent_changed": ses.ua is not None and f.ua != ses.ua,
                        },
                        key=f.sid,
                    )
            elif mode == "concurrent":
                if other:
                    finding = Finding(
                        rule,
                        1.0,
                        [
                            f"patient data requested from {f.net} while the account is active "
                            f"from {other} within {durations(self.settings.concurrency_window)}: "
                            "two places at once"
                        ],
                        {"network": f.net, "other_network": other},
                        key=(f.net, other),
                    )
            elif mode == "shared-source" and f.changed and f.net:
                src = self.tracker.sources.get(f.net)
                if src is not None:
                    lo = f.t - p.lookback
                    others = [
                        t for t, last in src.tenants.items() if t != acc.tenant and last >= lo
                    ]
                    if len(others) >= p.min_other_tenants:
                        finding = Finding(
                            rule,
                            float(len(others)),
                            [
                                f"network {f.net} was used by accounts of {len(others)} other "
                                f"practice(s) in the last {durations(p.lookback)}"
                            ],
                            {"network": f.net, "other_tenants": len(others)},
                            key=f.net,
                        )
            if finding is not None:
                if out is None:
                    out = []
                out.append(finding)
        return out


# a call, not a class decorator: a decorated class cannot be compiled by mypyc
register(FingerprintDetector)
