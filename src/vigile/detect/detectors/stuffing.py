"""Credential stuffing: failed logins across accounts, then a success."""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from typing import ClassVar

import msgspec

from vigile.detect.detectors.base import DetectorBase, Env, Finding, durations, register
from vigile.detect.facts import Facts
from vigile.detect.rules import Rule
from vigile.detect.state import BoundedTable
from vigile.events import AccessEvent


class _Fails:
    __slots__ = ("last", "times")

    def __init__(self, t: float = 0.0) -> None:
        self.last = t
        self.times: deque[tuple[float, str]] = deque(maxlen=256)


class Failures(msgspec.Struct, forbid_unknown_fields=True):
    min_failures: int
    #: count only failures from networks the account does not use
    unfamiliar_only: bool


class Spray(msgspec.Struct, forbid_unknown_fields=True):
    min_accounts: int
    min_tenants: int


class Success(msgspec.Struct, forbid_unknown_fields=True):
    #: failures of the account (from unfamiliar networks) before the success
    min_failures: int
    #: the severity when the login came from a network none of the failures came from
    #: (the account holder's new network as often as an attacker's fresh one; "" = the
    #: rule's own severity) and the risk it adds
    other_network: str
    other_network_risk: float
    #: a single failure is enough when its network failed on this many accounts (this
    #: one included) of two practices or more within the window: the account was
    #: sprayed; one typo from a network no one else failed from is not a spray
    spray_min_accounts: int

    def check(self) -> list[str]:
        from vigile.detect.rules import SEVERITY_RANK

        if self.other_network and self.other_network not in SEVERITY_RANK:
            return [f"other_network must be empty or one of {', '.join(SEVERITY_RANK)}"]
        return []


class StuffingDetector(DetectorBase):
    """Failed logins from unfamiliar networks, on one account or on many, then a success.

    Modes:

    * ``failures`` – one account fails to log in ``min_failures`` times within the
      window from networks neither it nor its practice uses (a typo at the office
      does not count);
    * ``spray`` – failures from unfamiliar networks on ``min_accounts`` accounts of
      ``min_tenants`` practices within the window: a password list run across the
      user base; every account failing while the spray is on is alerted;
    * ``success`` – a successful login from an unfamiliar network for an account
      that failed (or was sprayed) within the window: the credential worked. At the
      rule's severity when the login came from a network the failures came from (the
      account's, or the spray's); at ``other_network`` otherwise (a targeted account's
      holder logging in from a new home network after the spray).
    """

    name: ClassVar[str] = "stuffing"
    actions: ClassVar[frozenset[str] | None] = frozenset({"login", "login_failed"})
    modes: ClassVar[tuple[str, ...] | None] = ("failures", "spray", "success")
    needs_window: ClassVar[bool] = True
    state_attrs: ClassVar[tuple[str, ...]] = ("fails", "recent")

    mode_params: ClassVar[dict[str, type]] = {
        "failures": Failures,
        "spray": Spray,
        "success": Success,
    }

    def __init__(self, rules: list[Rule], env: Env) -> None:
        super().__init__(rules, env)
        self.horizon = max((float(r.window or 0) for r in self.rules), default=86400.0)
        #: the rules that count failures from familiar places too (looked up once)
        self._anywhere = frozenset(
            r.id for r in self.rules if not getattr(r.params, "unfamiliar_only", True)
        )
        self.fails: BoundedTable[_Fails] = BoundedTable("login-failures", self.horizon, 200_000)
        # every unfamiliar failure: (time, account key, network)
        self.recent: deque[tuple[float, Hashable, str]] = deque(maxlen=100_000)

    @staticmethod
    def _unfamiliar(f: Facts) -> bool:
        """Neither the account nor its practice works from this network."""
        return not f.net or (f.net not in f.acc.nets and f.net not in f.ten.nets)

    def score(self, ev: AccessEvent, f: Facts) -> list[Finding] | None:
        acc = f.acc
        rules = self.rules_for(acc.tenant, acc.role)
        if not rules:
            return None
        failed = f.action == "login_failed" or f.status in (401, 403)
        unfamiliar = self._unfamiliar(f)
        st = self.fails.get(f.key)
        out: list[Finding] = []
        for rule in rules:
            p = rule.params
            lo = f.t - float(rule.window or 0)
            mine = [x for x in st.times if x[0] >= lo] if st is not None else []
            only = rule.id not in self._anywhere
            if only:
                mine = [x for x in mine if x[1] not in acc.nets and x[1] not in f.ten.nets]
            if rule.mode == "failures" and failed and (unfamiliar or not only):
                n = len(mine) + 1
                if n >= p.min_failures:
                    nets = {x[1] for x in mine} | {f.net}
                    out.append(
                        Finding(
                            rule,
                            float(n),
                            [
                                f"{n} failed logins in {durations(float(rule.window or 0))} from "
                                f"{len(nets)} network(s) this account does not use"
                            ],
                            {"failures": n, "networks": len(nets)},
                        )
                    )
            elif rule.mode == "spray" and failed and unfamiliar:
                accounts, tenants = self._spray(lo, f)
                if len(accounts) >= p.min_accounts and len(tenants) >= p.min_tenants:
                    reason = (
                        f"failed logins from unfamiliar networks on {len(accounts)} accounts of "
                        f"{len(tenants)} practices in {durations(float(rule.window or 0))}: "
                        "a password list run across users"
                    )
                    ev_ = {"accounts": len(accounts), "tenants": len(tenants)}
                    for key in sorted(accounts, key=str):
                        tenant, actor = key[0], key[1]  # type: ignore[index]
                        out.append(
                            Finding(
                                rule,
                                float(len(accounts)),
                                [reason],
                                ev_,
                                tenant=tenant,
                                actor=actor,
                            )
                        )
            elif rule.mode == "success" and not failed and f.status < 400 and unfamiliar:
                # sprayed: the networks of its failures failed on other practices' accounts
                nets = {x[1] for x in mine if x[1]}
                accounts, tenants = self._spray(lo, f, nets)
                sprayed = bool(nets) and len(accounts) >= p.spray_min_accounts and len(tenants) >= 2
                if len(mine) >= p.min_failures or (sprayed and len(mine) >= 1):
                    out.append(self._success(rule, f, lo, mine, sprayed))
        return out or None

    def _success(
        self, rule: Rule, f: Facts, lo: float, mine: list[tuple[float, str]], sprayed: bool
    ) -> Finding:
        """The credential worked: from one of the failures' networks (the attacker's), or
        from another one (at the rule's ``other_network`` severity)."""
        p = rule.params
        failed_from = {x[1] for x in mine}
        if sprayed:
            failed_from |= {net for t, _key, net in self.recent if t >= lo}
        same = bool(f.net) and f.net in failed_from
        demoted = not same and bool(p.other_network)
        where = f.net or "an unknown network"
        reason = (
            f"successful login from {where}, unfamiliar to this account, after "
            f"{len(mine)} failed login(s) in {durations(float(rule.window or 0))}"
            + (" during a spray across accounts" if sprayed else "")
            + (
                "; the failures came from this network"
                if same
                else f"; none of the failures came from this network ({len(failed_from)} did)"
            )
        )
        return Finding(
            rule,
            float(len(mine)),
            [reason],
            {
                "failures": len(mine),
                "sprayed": sprayed,
                "network": f.net,
                "failures_from_this_network": same,
            },
            severity=p.other_network if demoted else None,
            risk=float(p.other_network_risk) if demoted else None,
        )

    def _spray(
        self, lo: float, f: Facts, nets: set[str] | None = None
    ) -> tuple[set[Hashable], set[str]]:
        """The accounts (this one included) and practices that failed from unfamiliar
        networks within the window; with ``nets``, only from those networks."""
        accounts: set[Hashable] = {f.key}
        tenants = {f.key[0]}
        for t, key, net in reversed(self.recent):
            if t < lo:
                break
            if nets is None or net in nets:
                accounts.add(key)
                tenants.add(key[0])  # type: ignore[index]
        return accounts, tenants

    def learn(self, ev: AccessEvent, f: Facts) -> None:
        failed = f.action == "login_failed" or f.status in (401, 403)
        if not failed:
            return
        st = self.fails.get(f.key)
        if st is None:
            st = self.fails.put(f.key, _Fails(f.t))
        st.last = f.t
        st.times.append((f.t, f.net))
        if self._unfamiliar(f):
            self.recent.append((f.t, f.key, f.net))

    def sweep(self, now: float) -> None:
        self.fails.sweep(now)
        lo = now - self.horizon
        while self.recent and self.recent[0][0] < lo:
            self.recent.popleft()


# a call, not a class decorator: a decorated class cannot be compiled by mypyc
register(StuffingDetector)
