# ruff: noqa: E501  (long literals: user agents, notes, report lines)
"""Blind world: an independent generator of French practice-management activity.

Written without reading vigile's simulator, detectors or rules: only the
external contract (INTERFACE.md §1-§3) and the issue text. It models how care
happens in ~25 small French practices over three weeks around Christmas and
New Year, plants attacks and benign hard cases of its own design, and records
the truth for ``score.py``.

Usage: python bench/blindworld/gen.py --out /tmp/blindworld --seed 1

Writes OUT/events.jsonl, OUT/context/{actors,patients,appointments,annotations}.csv
and OUT/truth.json (attacks, benign cases, active account-days, attack events).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TZ = dt.timezone(dt.timedelta(hours=1))  # Paris, winter
START = dt.date(2025, 12, 15)  # a Monday
DAYS = 21
CLOSED = {dt.date(2025, 12, 25), dt.date(2026, 1, 1)}

LAST = (  # noqa: SIM905
    "MARTIN BERNARD THOMAS PETIT ROBERT RICHARD DURAND DUBOIS MOREAU LAURENT SIMON MICHEL "
    "LEFEBVRE LEROY ROUX DAVID BERTRAND MOREL FOURNIER GIRARD BONNET DUPONT LAMBERT "
    "FONTAINE ROUSSEAU VINCENT MULLER LEFEVRE FAURE ANDRE MERCIER BLANC GUERIN BOYER "
    "GARNIER CHEVALIER FRANCOIS LEGRAND GAUTHIER GARCIA PERRIN ROBIN CLEMENT MORIN "
    "NICOLAS HENRY ROUSSEL MATHIEU GAUTIER MASSON MARCHAND DUVAL DENIS DUMONT MARIE "
    "LEMAIRE NOEL MEYER DUFOUR MEUNIER BRUN BLANCHARD GIRAUD JOLY RIVIERE LUCAS BRUNET "
    "GAILLARD BARBIER ARNAUD MARTINEZ GERARD ROCHE RENARD SCHMITT ROY LEROUX COLIN VIDAL "
    "CARON PICARD ROGER FABRE AUBERT LEMOINE RENAUD DUMAS LACROIX OLIVIER PHILIPPE "
    "BOURGEOIS PIERRE BENOIT REY LECLERC PAYET ROLLAND LECLERCQ GUILLAUME LECOMTE LOPEZ "
    "JEAN DUPUY GUILLOT HUBERT BERGER CARPENTIER SANCHEZ DUPUIS MOULIN LOUIS DESCHAMPS "
    "HUET VASSEUR PEREZ BOUCHER FLEURY ROYER KLEIN JACQUET ADAM PARIS POIRIER MARTY AUBRY "
    "GUYOT CARRE CHARLES RENAULT CHARPENTIER MENARD MAILLARD BARON BERTIN BAILLY HERVE "
    "SCHNEIDER FERNANDEZ LE_GALL COLLET LEGER BOUVIER JULIEN PREVOST MILLET PERROT DANIEL "
    "LE_ROUX COUSIN GERMAIN BRETON BESSON LANGLOIS REMY LE_GOFF PELLETIER LEVEQUE PERRIER "
    "LEBLANC BARRE LEBRUN MARCHAL WEBER MALLET HAMON BOULANGER JACOB MONNIER MICHAUD "
    "RODRIGUEZ GUICHARD GILLET ETIENNE GRONDIN POULAIN TESSIER CHEVALLIER COLLIN CHAUVIN "
    "DA_SILVA BOUCHET GAY LEMAITRE BENARD MARECHAL HUMBERT REYNAUD ANTOINE HOARAU PERRET "
    "BARTHELEMY CORDIER PICHON LEJEUNE GILBERT LAMY DELAUNAY PASQUIER CARLIER LAPORTE"
).split()
FIRST_F = (  # noqa: SIM905
    "Marie Nathalie Isabelle Sylvie Catherine Martine Christine Monique Sophie Françoise "
    "Valérie Sandrine Stéphanie Céline Véronique Chantal Nicole Julie Aurélie Camille "
    "Emma Léa Chloé Manon Inès Jade Louise Alice Lina Rose Anna Mila Zoé Juliette Lucie "
    "Clémence"
).split()
FIRST_M = (  # noqa: SIM905
    "Jean Pierre Michel Philippe Alain Nicolas Christophe Patrick Daniel Bernard Eric "
    "Frédéric Laurent Stéphane David Olivier Julien Thomas Sébastien Maxime Lucas Hugo "
    "Louis Gabriel Arthur Jules Léo Raphaël Adam Nathan Paul Tom Noah Ethan Sacha Antoine "
    "Mathis"
).split()
CITIES = [
    ("Lyon", "69003"),
    ("Villeurbanne", "69100"),
    ("Rennes", "35000"),
    ("Nantes", "44000"),
    ("Tours", "37000"),
    ("Limoges", "87000"),
    ("Dijon", "21000"),
    ("Pau", "64000"),
    ("Brest", "29200"),
    ("Angers", "49000"),
    ("Nîmes", "30000"),
    ("Auxerre", "89000"),
    ("Quimper", "29000"),
    ("Niort", "79000"),
    ("Vannes", "56000"),
    ("Cholet", "49300"),
    ("Saint-Brieuc", "22000"),
    ("Périgueux", "24000"),
    ("Mâcon", "71000"),
    ("Valence", "26000"),
    ("Roanne", "42300"),
    ("Blois", "41000"),
    ("Laval", "53000"),
    ("Alès", "30100"),
    ("Agen", "47000"),
]
STREETS = (  # noqa: SIM905
    "rue de la République|avenue Jean Jaurès|rue Victor Hugo|place du Marché|"
    "rue des Écoles|chemin des Vignes|boulevard Gambetta|rue Pasteur|allée des Tilleuls|"
    "rue du Stade"
).split("|")

# French fixed-line ISPs (practice and home), mobile carriers, hosting.
ISP_PREFIXES = [
    "90.{}.{}",
    "86.{}.{}",
    "82.{}.{}",
    "88.{}.{}",
    "109.{}.{}",
    "78.{}.{}",
    "176.{}.{}",
    "92.{}.{}",
    "2.{}.{}",
    "81.{}.{}",
]
MOBILE_PREFIXES = ["37.{}.{}", "80.214.{}", "92.184.{}", "176.147.{}"]
DESKTOP_UA = "MediLogic-Desktop/7.4.{} (Windows NT 10.0; Win64; x64) .NET/4.8"
WEB_UAS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
]
MOBILE_UA = "MediLogic-Mobile/3.2.{} (iPhone; iOS 18.1; Scale/3.00)"

SENSITIVE_NOTES = [
    "Patient suivi pour VIH, sous trithérapie, charge virale indétectable.",
    "Sevrage alcoolique en cours, suivi CSAPA, rechute en octobre.",
    "IVG médicamenteuse réalisée en 2024, souhaite une contraception par implant.",
    "Signalement de violences conjugales, certificat établi, orientée vers une association.",
    "Épisode dépressif sévère avec idées suicidaires, suivi psychiatrique au CMP.",
    "Traitement de substitution par méthadone, délivrance en pharmacie tous les 7 jours.",
    "Porteuse de la mutation BRCA1, surveillance mammaire renforcée.",
    "Sortie de détention en septembre, suivi SPIP.",
    "Hépatite C traitée, guérie, contrôle annuel.",
    "Transition en cours, traitement hormonal, prénom d'usage à respecter.",
]
PLAIN_NOTES = [
    "Préfère les rendez-vous le matin.",
    "Accompagnée de sa fille lors des consultations.",
    "Nouvelle adresse communiquée par téléphone.",
    "Tiers payant intégral, mutuelle mise à jour.",
    "Dossier transféré du Dr précédent, courrier reçu.",
    "Rappeler pour le renouvellement d'ordonnance.",
    "Vaccin grippe fait en octobre.",
    "Certificat de sport remis.",
]


def ts_iso(t: dt.datetime) -> str:
    return t.astimezone(TZ).isoformat(timespec="milliseconds")


@dataclass
class Actor:
    id: str
    tenant: str
    role: str
    created: dt.date
    ua: str
    home_ip: str
    mobile_ip: str | None = None
    absent: set[dt.date] = field(default_factory=set)
    panel: list[str] = field(default_factory=list)  # patients this doctor is médecin traitant of
    hours: tuple[float, float, float, float] = (8.5, 12.0, 14.0, 19.0)
    slot_min: int = 15
    wed_off: bool = False
    saturday: bool = False
    home_visits: bool = False
    evening_home: bool = False


@dataclass
class Practice:
    id: str
    kind: str
    city: str
    postcode: str
    ip: str
    actors: list[Actor] = field(default_factory=list)
    patients: list[str] = field(default_factory=list)
    saturday: bool = False

    def role(self, *roles: str) -> list[Actor]:
        return [a for a in self.actors if a.role in roles]


class World:
    def __init__(self, seed: int, refused_ids: bool = False) -> None:
        self.refused_ids = (
            refused_ids  # keep the requested id on refused reads (403) in patient_ids
        )
        self.rng = random.Random(seed)
        self.seed = seed
        self.practices: list[Practice] = []
        self.actors: dict[str, Actor] = {}
        self.patients: dict[str, dict[str, Any]] = {}
        self.patient_tenant: dict[str, str] = {}
        self.notes: list[dict[str, Any]] = []
        self.notes_by_patient: dict[str, list[str]] = defaultdict(list)
        self.sensitive: set[str] = set()
        self.appts: list[
            tuple[str, str, str, dt.datetime, str]
        ] = []  # tenant, actor, pid, start, kind
        self.events: list[dict[str, Any]] = []
        self.attacks: list[dict[str, Any]] = []
        self.benign: list[dict[str, Any]] = []
        self.prefix_index: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        self.max_pid = 0
        self.busy: dict[str, set[dt.date]] = defaultdict(set)  # actors whose normal day is replaced

    # ---------- helpers
    def ip(self, prefixes: list[str]) -> str:
        p = self.rng.choice(prefixes)
        n = p.count("{}")
        ip = p.format(*[self.rng.randint(1, 254) for _ in range(n)])
        while ip.count(".") < 3:
            ip += f".{self.rng.randint(1, 254)}"
        return ip

    def sid(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def at(self, day: dt.date, hour: float) -> dt.datetime:
        secs = int(hour * 3600)
        return dt.datetime(day.year, day.month, day.day, tzinfo=TZ) + dt.timedelta(
            seconds=secs, milliseconds=self.rng.randint(0, 999)
        )

    def emit(
        self,
        t: dt.datetime,
        a: Actor,
        action: str,
        resource: str,
        *,
        session: str,
        ip: str,
        ua: str | None = None,
        route: str,
        method: str = "GET",
        pids: list[str] | None = None,
        status: int = 200,
        records: int | None = None,
        query: str | None = None,
        attack: str | None = None,
        tenant: str | None = None,
        actor: str | None = None,
    ) -> None:
        pids = pids or []
        e: dict[str, Any] = {
            "ts": t,
            "tenant": tenant or a.tenant,
            "actor": actor or a.id,
            "action": action,
            "resource": resource,
            "session": session,
            "src_ip": ip,
            "user_agent": ua or a.ua,
            "method": method,
            "route": route,
            "status": status,
            "patient_ids": pids if status < 400 or self.refused_ids else [],
        }
        if records is not None:
            e["records"] = records
        elif status >= 400:
            e["records"] = 0
        if query is not None:
            e["query"] = query
        e["bytes"] = (
            300
            + 2500 * max(len(e["patient_ids"]), e.get("records", 0) or 0)
            + self.rng.randint(0, 900)
        )
        if attack:
            e["_attack"] = attack
        self.events.append(e)

    def days(self) -> list[dt.date]:
        return [START + dt.timedelta(days=i) for i in range(DAYS)]

    # ---------- world
    def build(self) -> None:
        rng = self.rng
        kinds = ["solo"] * 9 + ["group"] * 7 + ["paramed"] * 5 + ["pedia"] * 4
        rng.shuffle(kinds)
        for i, kind in enumerate(kinds):
            city, pc = CITIES[i]
            p = Practice(
                f"cab-{i + 1:02d}-{city.lower().replace(' ', '').replace('â', 'a').replace('é', 'e')[:8]}",
                kind,
                city,
                pc,
                self.ip(ISP_PREFIXES),
                saturday=rng.random() < 0.4,
            )
            self.practices.append(p)
            if kind == "solo":
                staff = [("doctor", 1)] + ([("secretary", 1)] if rng.random() < 0.45 else [])
            elif kind == "group":
                staff = [("doctor", rng.randint(3, 6)), ("secretary", rng.randint(1, 2))] + (
                    [("admin", 1)] if rng.random() < 0.5 else []
                )
            elif kind == "paramed":
                staff = [(rng.choice(["physio", "nurse"]), rng.randint(2, 4))]
            else:
                staff = [("doctor", rng.randint(2, 3)), ("secretary", 1)]
            for role, n in staff:
                for _ in range(n):
                    self.new_actor(p, role)
        # patients: ids are global and sequential, interleaved between practices
        weights = []
        for p in self.practices:
            docs = len(p.role("doctor", "physio", "nurse"))
            per = {"solo": 1300, "group": 850, "paramed": 220, "pedia": 700}[p.kind]
            weights.append(docs * per)
        scale = 40000 / sum(weights)
        quotas = [int(w * scale) for w in weights]
        bag = [i for i, q in enumerate(quotas) for _ in range(q)]
        rng.shuffle(bag)
        for n, pi in enumerate(bag):
            self.new_patient(self.practices[pi], 100001 + n)
        # notes already in the files
        for pid, pat in self.patients.items():
            if rng.random() < 0.22:
                p = self.practice(pat["tenant"])
                authors = p.role("doctor", "physio", "nurse", "locum")
                for _ in range(rng.randint(1, 2)):
                    sens = rng.random() < 0.25
                    text = rng.choice(SENSITIVE_NOTES if sens else PLAIN_NOTES)
                    nid = f"n{len(self.notes) + 1:06d}"
                    created = START - dt.timedelta(days=rng.randint(20, 2000))
                    self.notes.append(
                        {
                            "annotation_id": nid,
                            "patient_id": pid,
                            "tenant": pat["tenant"],
                            "author": rng.choice(authors).id,
                            "created": created.isoformat(),
                            "text": text,
                        }
                    )
                    self.notes_by_patient[pid].append(nid)
                    if sens:
                        self.sensitive.add(pid)
        # Christmas leave: a third of the carers take one of the two holiday weeks
        for a in self.actors.values():
            if rng.random() < 0.3:
                wk = rng.choice([dt.date(2025, 12, 22), dt.date(2025, 12, 29)])
                a.absent |= {wk + dt.timedelta(days=k) for k in range(6)}

    def practice(self, tid: str) -> Practice:
        return next(p for p in self.practices if p.id == tid)

    def new_actor(self, p: Practice, role: str, created: dt.date | None = None) -> Actor:
        rng = self.rng
        last = rng.choice(LAST).lower().replace("_", "")
        first = rng.choice(FIRST_F + FIRST_M)
        aid = f"{first[0].lower()}.{last}"
        while aid in self.actors:
            aid += str(rng.randint(2, 9))
        desktop = rng.random() < 0.7
        ua = DESKTOP_UA.format(rng.choice([1, 2, 3])) if desktop else rng.choice(WEB_UAS)
        start_h = rng.choice([8.0, 8.5, 8.5, 9.0])
        end_h = rng.choice([18.0, 18.5, 19.0, 19.5])
        a = Actor(
            aid,
            p.id,
            role,
            created or (START - dt.timedelta(days=rng.randint(200, 4000))),
            ua,
            self.ip(ISP_PREFIXES),
            hours=(start_h, 12.0 + rng.choice([0, 0.5]), 14.0, end_h),
            slot_min=rng.choice([15, 15, 20]) if role == "doctor" else 30,
            wed_off=rng.random() < 0.3,
            saturday=p.saturday and role != "admin",
            home_visits=(role == "doctor" and rng.random() < 0.35) or role == "nurse",
            evening_home=role == "doctor" and rng.random() < 0.3,
        )
        if role == "secretary":
            a.hours = (7.75 + rng.random() * 0.5, 12.5, 13.75, 18.5)
        if a.home_visits:
            a.mobile_ip = self.ip(MOBILE_PREFIXES)
        p.actors.append(a)
        self.actors[aid] = a
        return a

    def new_patient(self, p: Practice, num: int) -> str:
        rng = self.rng
        pid = f"{num}"
        sex = rng.choice("FM")
        last = rng.choice(LAST).replace("_", " ")
        first = rng.choice(FIRST_F if sex == "F" else FIRST_M)
        age = rng.randint(0, 17) if p.kind == "pedia" else int(min(99, max(0, rng.gauss(48, 22))))
        bd = dt.date(2025 - age, rng.randint(1, 12), rng.randint(1, 28))
        vip = 1 if rng.random() < 0.0008 else 0
        self.patients[pid] = {
            "patient_id": pid,
            "tenant": p.id,
            "last_name": last,
            "birth_name": last
            if sex == "M" or rng.random() < 0.5
            else rng.choice(LAST).replace("_", " "),
            "first_name": first,
            "sex": sex,
            "birth_date": bd.isoformat(),
            "phone": "0" + rng.choice("67") + "".join(str(rng.randint(0, 9)) for _ in range(8)),
            "email": f"{first.lower()[:1]}{last.lower().replace(' ', '')}{rng.randint(1, 99)}@exemple.fr",
            "address": f"{rng.randint(1, 140)} {rng.choice(STREETS)}",
            "postcode": p.postcode,
            "city": p.city,
            "vip": vip,
        }
        self.patient_tenant[pid] = p.id
        p.patients.append(pid)
        self.prefix_index[p.id][last[:3]].append(pid)
        carers = p.role("doctor", "physio", "nurse")
        if carers:
            rng.choice(carers).panel.append(pid)
        self.max_pid = max(self.max_pid, num)
        return pid

    def working(self, a: Actor, day: dt.date) -> bool:
        if day in CLOSED or day in a.absent or day < a.created:
            return False
        wd = day.weekday()
        if wd == 6:
            return False
        if wd == 5:
            return a.saturday
        return True

    # ---------- appointments
    def schedule(self) -> None:
        for p in self.practices:
            for a in p.role("doctor", "physio", "nurse", "locum"):
                for day in self.days():
                    if not self.working(a, day):
                        continue
                    self.schedule_day(p, a, day)

    def schedule_day(
        self, p: Practice, a: Actor, day: dt.date, pool: list[str] | None = None
    ) -> None:
        rng = self.rng
        wd = day.weekday()
        h0, h1, h2, h3 = a.hours
        blocks = [(h0, h1)] if wd == 5 or (wd == 2 and a.wed_off) else [(h0, h1), (h2, h3)]
        if wd == 5:
            blocks = [(9.0, 12.0)]
        if a.role == "nurse":
            blocks = [(7.0, 11.0), (17.0, 19.5)]
        own = pool or a.panel or p.patients
        fill = 0.85 if day.month == 12 and day.day < 22 else 0.7  # holidays are quieter
        for b0, b1 in blocks:
            t = b0
            while t + a.slot_min / 60 <= b1:
                if rng.random() < fill:
                    pid = rng.choice(own) if rng.random() < 0.8 else rng.choice(p.patients)
                    kind = "home" if a.role == "nurse" else "office"
                    self.appts.append(
                        (p.id, a.id, pid, self.at(day, t).replace(microsecond=0, second=0), kind)
                    )
                t += a.slot_min / 60 if a.role != "nurse" else rng.choice([0.25, 0.33, 0.5])
            if a.home_visits and a.role == "doctor" and b0 >= 14 and wd in (1, 3):
                for k in range(rng.randint(1, 3)):
                    self.appts.append(
                        (
                            p.id,
                            a.id,
                            rng.choice(own),
                            self.at(day, 12.5 + 0.5 * k).replace(microsecond=0, second=0),
                            "home",
                        )
                    )

    # ---------- normal activity
    def purge_appointments(self) -> None:
        """Drop appointments of carers who turned out to be away (leave decided after scheduling)."""
        self.appts = [x for x in self.appts if self.working(self.actors[x[1]], x[3].date())]

    def normal_activity(self) -> None:
        self.by_tenant_day: dict[
            tuple[str, dt.date], list[tuple[str, str, str, dt.datetime, str]]
        ] = defaultdict(list)
        for x in self.appts:
            self.by_tenant_day[(x[0], x[3].date())].append(x)
        by_actor: dict[str, list[tuple[dt.datetime, str, str]]] = defaultdict(list)
        for _tenant, actor, pid, start, kind in self.appts:
            by_actor[actor].append((start, pid, kind))
        for p in self.practices:
            for a in p.actors:
                for day in self.days():
                    if not self.working(a, day) or day in self.busy[a.id]:
                        continue
                    todays = sorted(x for x in by_actor[a.id] if x[0].date() == day)
                    if a.role in ("doctor", "physio", "nurse", "locum"):
                        self.carer_day(p, a, day, todays)
                    elif a.role == "secretary":
                        self.secretary_day(p, a, day)
                    elif a.role == "admin":
                        self.admin_day(p, a, day)

    def login(self, a: Actor, t: dt.datetime, ip: str, ua: str | None = None) -> str:
        s = self.sid()
        if self.rng.random() < 0.04:  # a typo first
            self.emit(
                t - dt.timedelta(seconds=20),
                a,
                "login_failed",
                "session",
                session="",
                ip=ip,
                ua=ua,
                route="/api/v2/auth/login",
                method="POST",
                status=401,
            )
        self.emit(
            t,
            a,
            "login",
            "session",
            session=s,
            ip=ip,
            ua=ua,
            route="/api/v2/auth/login",
            method="POST",
        )
        return s

    def consult(
        self,
        a: Actor,
        t: dt.datetime,
        pid: str,
        s: str,
        ip: str,
        ua: str | None = None,
        attack: str | None = None,
    ) -> None:
        rng = self.rng
        kw: dict[str, Any] = {"session": s, "ip": ip, "ua": ua, "attack": attack}
        self.emit(t, a, "read", "patient", route="/api/v2/patients/{id}", pids=[pid], **kw)
        notes = self.notes_by_patient.get(pid, [])
        t2 = t + dt.timedelta(seconds=rng.randint(5, 40))
        self.emit(
            t2,
            a,
            "read",
            "annotation",
            route="/api/v2/patients/{id}/notes",
            pids=[pid],
            records=max(1, len(notes)),
            **kw,
        )
        if rng.random() < 0.5:
            self.emit(
                t2 + dt.timedelta(seconds=rng.randint(10, 90)),
                a,
                "read",
                "document",
                route="/api/v2/patients/{id}/documents/{doc}",
                pids=[pid],
                **kw,
            )
        if attack:
            return
        t3 = t + dt.timedelta(minutes=rng.randint(6, 14), seconds=rng.randint(0, 59))
        self.emit(
            t3,
            a,
            "create",
            "annotation",
            method="POST",
            route="/api/v2/patients/{id}/notes",
            pids=[pid],
            **kw,
        )
        if a.role in ("doctor", "locum") and rng.random() < 0.65:
            t4 = t3 + dt.timedelta(seconds=rng.randint(30, 150))
            self.emit(
                t4,
                a,
                "create",
                "prescription",
                method="POST",
                route="/api/v2/prescriptions",
                pids=[pid],
                **kw,
            )
            if rng.random() < 0.8:
                self.emit(
                    t4 + dt.timedelta(seconds=rng.randint(3, 20)),
                    a,
                    "print",
                    "prescription",
                    method="POST",
                    route="/api/v2/prescriptions/{id}/print",
                    pids=[pid],
                    **kw,
                )
        if rng.random() < 0.2:
            self.emit(
                t3 + dt.timedelta(seconds=rng.randint(200, 300)),
                a,
                "update",
                "patient",
                method="PUT",
                route="/api/v2/patients/{id}",
                pids=[pid],
                **kw,
            )

    def carer_day(
        self, p: Practice, a: Actor, day: dt.date, todays: list[tuple[dt.datetime, str, str]]
    ) -> None:
        rng = self.rng
        office = [x for x in todays if x[2] == "office"]
        home = [x for x in todays if x[2] == "home"]
        if office:
            t0 = office[0][0] - dt.timedelta(minutes=rng.randint(10, 30))
            s = self.login(a, t0, p.ip)
            self.emit(
                t0 + dt.timedelta(seconds=30),
                a,
                "list",
                "appointment",
                session=s,
                ip=p.ip,
                route="/api/v2/agenda",
                pids=[x[1] for x in office],
                query=f"praticien={a.id}&date={day.isoformat()}",
            )
            # morning results inbox: lab results and letters for the doctor's own patients
            if a.role in ("doctor", "locum"):
                for k in range(rng.randint(3, 12)):
                    pid = rng.choice(a.panel or p.patients)
                    self.emit(
                        t0 + dt.timedelta(seconds=60 + 40 * k),
                        a,
                        "read",
                        "document",
                        session=s,
                        ip=p.ip,
                        route="/api/v2/inbox/{doc}",
                        pids=[pid],
                    )
            lunch_relogin = False
            for start, pid, _ in office:
                if not lunch_relogin and start.hour >= 13:
                    s = self.login(a, start - dt.timedelta(minutes=rng.randint(3, 15)), p.ip)
                    lunch_relogin = True
                self.consult(
                    a,
                    start + dt.timedelta(minutes=rng.randint(0, 20), seconds=rng.randint(0, 59)),
                    pid,
                    s,
                    p.ip,
                )
            self.emit(
                office[-1][0] + dt.timedelta(minutes=25),
                a,
                "logout",
                "session",
                session=s,
                ip=p.ip,
                route="/api/v2/auth/logout",
                method="POST",
            )
        if home and a.mobile_ip:
            mua = MOBILE_UA.format(rng.randint(0, 4))
            s = self.login(a, home[0][0] - dt.timedelta(minutes=5), a.mobile_ip, mua)
            for start, pid, _ in home:
                self.consult(
                    a, start + dt.timedelta(minutes=rng.randint(0, 10)), pid, s, a.mobile_ip, mua
                )
        if a.evening_home and rng.random() < 0.4 and day.weekday() < 5:
            t = self.at(day, 20.5 + rng.random() * 1.5)
            s = self.login(a, t, a.home_ip)
            seen = [x[1] for x in todays] or a.panel
            for k in range(rng.randint(3, 10)):
                pid = rng.choice(seen if rng.random() < 0.6 else (a.panel or p.patients))
                self.emit(
                    t + dt.timedelta(minutes=2 + 3 * k),
                    a,
                    "read",
                    "document",
                    session=s,
                    ip=a.home_ip,
                    route="/api/v2/inbox/{doc}",
                    pids=[pid],
                )
                if rng.random() < 0.3:
                    self.emit(
                        t + dt.timedelta(minutes=3 + 3 * k),
                        a,
                        "create",
                        "document",
                        method="POST",
                        session=s,
                        ip=a.home_ip,
                        route="/api/v2/patients/{id}/letters",
                        pids=[pid],
                    )

    def search(
        self,
        a: Actor,
        p: Practice,
        t: dt.datetime,
        s: str,
        ip: str,
        pid: str,
        attack: str | None = None,
    ) -> None:
        last = self.patients[pid]["last_name"]
        pref = last[: self.rng.randint(3, min(6, len(last)))]
        hits = [
            q
            for q in self.prefix_index[p.id][last[:3]]
            if self.patients[q]["last_name"].startswith(pref)
        ][:25]
        self.emit(
            t,
            a,
            "search",
            "patient",
            session=s,
            ip=ip,
            route="/api/v2/patients/search",
            pids=hits,
            query=f"nom={pref}",
            attack=attack,
        )

    def secretary_day(self, p: Practice, a: Actor, day: dt.date) -> None:
        rng = self.rng
        h0, h1, h2, h3 = a.hours
        if day.weekday() == 5:
            h1, h2, h3 = 12.0, 12.0, 12.0
        s = self.login(a, self.at(day, h0), p.ip)
        doctors = p.role("doctor", "locum")
        day_appts = self.by_tenant_day[(p.id, day)]
        for k, d in enumerate(doctors):
            ids = [x[2] for x in day_appts if x[1] == d.id]
            self.emit(
                self.at(day, h0 + 0.05 + 0.01 * k),
                a,
                "list",
                "appointment",
                session=s,
                ip=p.ip,
                route="/api/v2/agenda",
                pids=ids,
                query=f"praticien={d.id}&date={day.isoformat()}",
            )
        # welcoming arrivals: check the administrative file, update the carte Vitale data
        for _tenant, _doc, pid, start, kind in day_appts:
            if kind == "office" and rng.random() < 0.35 / max(1, len(p.role("secretary"))):
                t = start - dt.timedelta(minutes=rng.randint(1, 10))
                self.emit(
                    t,
                    a,
                    "read",
                    "patient",
                    session=s,
                    ip=p.ip,
                    route="/api/v2/patients/{id}",
                    pids=[pid],
                )
                if rng.random() < 0.3:
                    self.emit(
                        t + dt.timedelta(seconds=40),
                        a,
                        "update",
                        "patient",
                        session=s,
                        ip=p.ip,
                        method="PUT",
                        route="/api/v2/patients/{id}",
                        pids=[pid],
                    )
        # phone calls: search by name, open the file, book
        hh = h0 + 0.3
        future = [
            x for k in range(1, 13) for x in self.by_tenant_day[(p.id, day + dt.timedelta(days=k))]
        ]
        while hh < h3:
            if h1 <= hh < h2:
                hh = h2
                if hh >= h3:
                    break
                s = self.login(a, self.at(day, hh), p.ip)
            tt = self.at(day, hh)
            pid = rng.choice(future)[2] if future and rng.random() < 0.7 else rng.choice(p.patients)
            self.search(a, p, tt, s, p.ip, pid)
            self.emit(
                tt + dt.timedelta(seconds=rng.randint(8, 30)),
                a,
                "read",
                "patient",
                session=s,
                ip=p.ip,
                route="/api/v2/patients/{id}",
                pids=[pid],
            )
            if rng.random() < 0.75:
                self.emit(
                    tt + dt.timedelta(seconds=rng.randint(40, 120)),
                    a,
                    "create",
                    "appointment",
                    session=s,
                    ip=p.ip,
                    method="POST",
                    route="/api/v2/appointments",
                    pids=[pid],
                )
            hh += rng.uniform(0.08, 0.25)
        if rng.random() < 0.5:
            self.emit(
                self.at(day, h3 - 0.2),
                a,
                "list",
                "appointment",
                session=s,
                ip=p.ip,
                route="/api/v2/agenda",
                pids=[x[2] for x in future if x[3].date() == day + dt.timedelta(days=1)][:60],
                query="date=demain&statut=confirmer",
            )

    def admin_day(self, p: Practice, a: Actor, day: dt.date) -> None:
        rng = self.rng
        s = self.login(a, self.at(day, 9.0 + rng.random()), p.ip)
        for k in range(rng.randint(2, 5)):
            recs = rng.randint(20, 80)
            pids = rng.sample(p.patients, min(recs, len(p.patients)))
            self.emit(
                self.at(day, 9.2 + 0.5 * k + rng.random() * 0.3),
                a,
                "list",
                "invoice",
                session=s,
                ip=p.ip,
                route="/api/v2/billing/invoices",
                pids=pids,
                query=f"statut=rejet&page={k + 1}",
            )

    # ---------- benign hard cases
    def add_benign(
        self, kind: str, a: Actor, start: dt.datetime, end: dt.datetime, what: str
    ) -> None:
        self.benign.append(
            {
                "id": f"B{len(self.benign) + 1}",
                "kind": kind,
                "accounts": [[a.tenant, a.id]],
                "start": ts_iso(start),
                "end": ts_iso(end),
                "what": what,
            }
        )

    def benign_cases(self) -> None:
        rng = self.rng
        groups = [p for p in self.practices if p.kind == "group"]
        solos = [p for p in self.practices if p.kind == "solo"]
        used: set[str] = set()

        def pick(ps: list[Practice], role: str) -> tuple[Practice, Actor]:
            while True:
                p = rng.choice(ps)
                cands = [x for x in p.role(role) if x.id not in used]
                if cands:
                    a = rng.choice(cands)
                    used.add(a.id)
                    return p, a

        # B: doctor back from two weeks of holiday reads the accumulated results
        p, a = pick(groups, "doctor")
        a.absent = {START + dt.timedelta(days=k) for k in range(14)}
        day = dt.date(2025, 12, 29)
        t = self.at(day, 7.5)
        s = self.login(a, t, p.ip)
        for k in range(160):
            pid = rng.choice(a.panel)
            self.emit(
                t + dt.timedelta(seconds=40 + 55 * k + rng.randint(0, 30)),
                a,
                "read",
                "document",
                session=s,
                ip=p.ip,
                route="/api/v2/inbox/{doc}",
                pids=[pid],
            )
            if rng.random() < 0.15:
                self.emit(
                    t + dt.timedelta(seconds=70 + 55 * k),
                    a,
                    "read",
                    "patient",
                    session=s,
                    ip=p.ip,
                    route="/api/v2/patients/{id}",
                    pids=[pid],
                )
        self.add_benign(
            "holiday_return_catchup",
            a,
            t,
            t + dt.timedelta(hours=3),
            "back after 2 weeks off (no activity in the window before), reads 160 results of own panel patients 07:30-10:00, then normal consultations",
        )

        # B: a retiring solo GP's list is merged into a group practice: import, then review files
        p, a = pick(groups, "secretary")
        day = dt.date(2025, 12, 17)
        t = self.at(day, 14.0)
        s = self.sid()
        self.emit(
            t, a, "login", "session", session=s, ip=p.ip, route="/api/v2/auth/login", method="POST"
        )
        self.busy[a.id].add(day)
        new_ids = []
        for b in range(14):
            batch = [self.new_patient(p, self.max_pid + 1) for _ in range(50)]
            new_ids += batch
            self.emit(
                t + dt.timedelta(minutes=2 + b),
                a,
                "create",
                "patient",
                session=s,
                ip=p.ip,
                method="POST",
                route="/api/v2/import/patients",
                pids=batch,
                query="source=export_dr_retraite.csv",
            )
        for k, pid in enumerate(rng.sample(new_ids, 220)):
            tt = t + dt.timedelta(minutes=20, seconds=35 * k)
            self.emit(
                tt,
                a,
                "read",
                "patient",
                session=s,
                ip=p.ip,
                route="/api/v2/patients/{id}",
                pids=[pid],
            )
            if rng.random() < 0.5:
                self.emit(
                    tt + dt.timedelta(seconds=15),
                    a,
                    "update",
                    "patient",
                    session=s,
                    ip=p.ip,
                    method="PUT",
                    route="/api/v2/patients/{id}",
                    pids=[pid],
                )
        self.add_benign(
            "patient_list_merge",
            a,
            t,
            t + dt.timedelta(hours=3),
            "imports 700 patients of a retiring GP (14 batch creates), then opens and fixes 220 of the files she created",
        )

        # B: a locum (remplaçant) starts in a solo practice while the GP is away
        p, holder = pick(solos, "doctor")
        wk = dt.date(2025, 12, 22)
        holder.absent |= {wk + dt.timedelta(days=k) for k in range(6)}
        loc = self.new_actor(p, "locum", created=wk - dt.timedelta(days=1))
        used.add(loc.id)
        loc.ua = rng.choice(WEB_UAS)
        loc.home_visits = False
        loc.evening_home = False
        loc.panel = holder.panel
        loc.hours = holder.hours
        for k in range(6):
            d = wk + dt.timedelta(days=k)
            if self.working(loc, d):
                self.schedule_day(p, loc, d, pool=holder.panel)
        self.add_benign(
            "locum_start",
            loc,
            self.at(wk, 7.0),
            self.at(wk + dt.timedelta(days=5), 20.0),
            f"new account created the day before, own laptop browser, covers {holder.id}'s week",
        )

        # B: recall campaign (flu / screening) prepared by a secretary: filtered list, paging, export, letters
        p, a = pick(groups + [x for x in self.practices if x.kind == "pedia"], "secretary")
        day = dt.date(2025, 12, 16) + dt.timedelta(days=rng.choice([0, 1, 2]))
        self.busy[a.id].add(day)
        t = self.at(day, 9.0)
        s = self.login(a, t, p.ip)
        target = [
            q for q in p.patients if self.patients[q]["birth_date"] < "1961-01-01"
        ] or p.patients
        target = target[:900]
        for k in range(0, len(target), 100):
            self.emit(
                t + dt.timedelta(minutes=3 + k // 100),
                a,
                "list",
                "patient",
                session=s,
                ip=p.ip,
                route="/api/v2/patients",
                pids=target[k : k + 100],
                query=f"age>=65&vaccin_grippe=non&page={k // 100 + 1}&size=100",
            )
        self.emit(
            t + dt.timedelta(minutes=16),
            a,
            "export",
            "patient",
            session=s,
            ip=p.ip,
            method="POST",
            route="/api/v2/exports",
            pids=target,
            query="age>=65&vaccin_grippe=non&format=csv",
        )
        for k, pid in enumerate(target[:300]):
            self.emit(
                t + dt.timedelta(minutes=30, seconds=12 * k),
                a,
                "print",
                "document",
                session=s,
                ip=p.ip,
                method="POST",
                route="/api/v2/letters/{id}/print",
                pids=[pid],
            )
        self.add_benign(
            "recall_campaign_export",
            a,
            t,
            t + dt.timedelta(hours=2),
            f"flu recall: lists {len(target)} patients >=65 in pages of 100, exports them, prints 300 letters",
        )

        # B: end-of-year billing export by the practice manager (or a secretary)
        cand = [
            x
            for x in self.practices
            if x.role("admin") and not any(y.id in used for y in x.role("admin"))
        ]
        p, a = pick(cand, "admin") if cand else pick(groups, "secretary")
        day = dt.date(2025, 12, 31)
        if day in a.absent:
            a.absent.discard(day)
        self.busy[a.id].add(day)
        t = self.at(day, 10.0)
        s = self.login(a, t, p.ip)
        billed = rng.sample(p.patients, min(2400, len(p.patients)))
        for k in range(0, len(billed), 200):
            self.emit(
                t + dt.timedelta(minutes=1 + k // 200),
                a,
                "list",
                "invoice",
                session=s,
                ip=p.ip,
                route="/api/v2/billing/invoices",
                pids=billed[k : k + 200],
                query=f"annee=2025&page={k // 200 + 1}&size=200",
            )
        self.emit(
            t + dt.timedelta(minutes=20),
            a,
            "export",
            "invoice",
            session=s,
            ip=p.ip,
            method="POST",
            route="/api/v2/billing/export",
            pids=billed,
            query="annee=2025&format=fec",
        )
        self.add_benign(
            "year_end_billing_export",
            a,
            t,
            t + dt.timedelta(hours=1),
            f"Dec 31: pages through {len(billed)} invoices of 2025 and exports them for the accountant",
        )

        # B: a doctor who moved: evening work from a new home ISP with a new browser
        p, a = pick(groups + solos, "doctor")
        a.evening_home = False
        for k, day in enumerate(
            [d for d in self.days() if d.weekday() < 4 and self.working(a, d)][6:11]
        ):
            ip = self.ip(ISP_PREFIXES) if k == 0 else a.home_ip
            if k == 0:
                a.home_ip = ip
            ua = WEB_UAS[2]
            t = self.at(day, 21.0)
            s = self.login(a, t, ip, ua)
            for j in range(rng.randint(8, 15)):
                self.emit(
                    t + dt.timedelta(minutes=2 + 2 * j),
                    a,
                    "read",
                    "document",
                    session=s,
                    ip=ip,
                    ua=ua,
                    route="/api/v2/inbox/{doc}",
                    pids=[rng.choice(a.panel)],
                )
            if k == 0:
                start = t
        self.add_benign(
            "new_home_network",
            a,
            start,
            t + dt.timedelta(hours=1),
            "moved house: evening results reading from a new ISP address with a new browser, own patients, normal volume",
        )

        # B: a secretary reschedules a sick doctor's whole day: agenda, open each file, update appointment
        p, a = pick(groups, "secretary")
        sick = rng.choice(p.role("doctor"))
        day = rng.choice([d for d in self.days()[2:12] if d.weekday() < 5 and d not in CLOSED])
        t = self.at(day, 7.9)
        todays = [x for x in self.appts if x[1] == sick.id and x[3].date() == day]
        tomorrow = [
            x for x in self.appts if x[1] == sick.id and x[3].date() == day + dt.timedelta(days=1)
        ]
        self.appts = [x for x in self.appts if not (x[1] == sick.id and x[3].date() == day)]
        sick.absent.add(day)
        s = self.sid()
        self.emit(
            t, a, "login", "session", session=s, ip=p.ip, route="/api/v2/auth/login", method="POST"
        )
        for k, x in enumerate(todays + tomorrow):
            tt = t + dt.timedelta(minutes=2, seconds=70 * k)
            self.emit(
                tt,
                a,
                "read",
                "patient",
                session=s,
                ip=p.ip,
                route="/api/v2/patients/{id}",
                pids=[x[2]],
            )
            self.emit(
                tt + dt.timedelta(seconds=45),
                a,
                "update",
                "appointment",
                session=s,
                ip=p.ip,
                method="PUT",
                route="/api/v2/appointments/{id}",
                pids=[x[2]],
            )
        self.add_benign(
            "sick_doctor_reschedule",
            a,
            t,
            t + dt.timedelta(hours=2),
            f"{sick.id} off sick: calls {len(todays + tomorrow)} patients of today and tomorrow, opens each file, moves the appointment",
        )

    # ---------- attacks
    def add_attack(
        self,
        kind: str,
        accounts: list[Actor],
        start: dt.datetime,
        end: dt.datetime,
        what: str,
        targeted: list[Actor] | None = None,
    ) -> str:
        aid = f"A{len(self.attacks) + 1}"
        self.attacks.append(
            {
                "id": aid,
                "kind": kind,
                "accounts": [[a.tenant, a.id] for a in accounts],
                "targeted_only": [[a.tenant, a.id] for a in (targeted or [])],
                "start": ts_iso(start),
                "end": ts_iso(end),
                "what": what,
            }
        )
        return aid

    def attack_days(self, a: Actor, lo: int = 4) -> list[dt.date]:
        return [d for d in self.days()[lo:] if self.working(a, d) and d.weekday() < 5]

    def attacks_plan(self) -> None:
        rng = self.rng
        benign_accts = {acc[1] for b in self.benign for acc in b["accounts"]}
        taken: set[str] = set(benign_accts)

        def pick(
            role: str | tuple[str, ...], kinds: tuple[str, ...] = ("solo", "group", "pedia")
        ) -> tuple[Practice, Actor]:
            roles = (role,) if isinstance(role, str) else role
            while True:
                p = rng.choice([x for x in self.practices if x.kind in kinds])
                c = [
                    x
                    for x in p.actors
                    if x.role in roles and x.id not in taken and self.attack_days(x)
                ]
                if c:
                    a = rng.choice(c)
                    taken.add(a.id)
                    return p, a

        vps = ["5.161.{}.{}", "167.99.{}.{}", "45.134.{}.{}", "159.223.{}.{}", "185.220.101.{}"]
        # 1. stolen doctor credentials used at night from a VPS to read many files
        for _ in range(2):
            p, a = pick("doctor")
            day = rng.choice(self.attack_days(a))
            t = self.at(day, 1.5 + rng.random() * 2)
            ip, ua = self.ip(vps), "python-requests/2.32.3"
            aid = self.add_attack(
                "stolen_account_night_vps",
                [a],
                t,
                t + dt.timedelta(hours=1),
                f"{a.id}'s password used at night from {ip}, reads ~400 files with notes",
            )
            s = self.sid()
            self.emit(
                t,
                a,
                "login",
                "session",
                session=s,
                ip=ip,
                ua=ua,
                route="/api/v2/auth/login",
                method="POST",
                attack=aid,
            )
            for k, pid in enumerate(rng.sample(p.patients, min(400, len(p.patients)))):
                self.consult(a, t + dt.timedelta(seconds=8 * k + 5), pid, s, ip, ua, attack=aid)
            self.attacks[-1]["end"] = ts_iso(t + dt.timedelta(seconds=8 * 400 + 60))

        # 2. insider slow extraction: 30 files/hour in office hours, from the practice, other doctors' patients
        for _ in range(2):
            p, a = pick(("doctor", "secretary"), ("group", "pedia"))
            days = self.attack_days(a)[:3]
            if not days:
                continue
            t0 = self.at(days[0], 9.0)
            aid = self.add_attack(
                "insider_slow_extraction",
                [a],
                t0,
                self.at(days[-1], 17.0),
                f"{a.id} ({a.role}) reads 30 unexplained files/hour 09-17h on 3 days from the practice IP with the usual client",
            )
            others = [q for q in p.patients if q not in a.panel]
            s = self.sid()
            for d in days:
                self.emit(
                    self.at(d, 8.95),
                    a,
                    "login",
                    "session",
                    session=s,
                    ip=p.ip,
                    route="/api/v2/auth/login",
                    method="POST",
                    attack=aid,
                )
                for k in range(8 * 30):
                    pid = rng.choice(others)
                    tt = self.at(d, 9.0 + k / 30 + rng.random() / 60)
                    self.emit(
                        tt,
                        a,
                        "read",
                        "patient",
                        session=s,
                        ip=p.ip,
                        route="/api/v2/patients/{id}",
                        pids=[pid],
                        attack=aid,
                    )
                    if rng.random() < 0.5:
                        self.emit(
                            tt + dt.timedelta(seconds=10),
                            a,
                            "read",
                            "annotation",
                            session=s,
                            ip=p.ip,
                            route="/api/v2/patients/{id}/notes",
                            pids=[pid],
                            attack=aid,
                        )

        # 3. session hijack: the doctor's token replayed concurrently from elsewhere
        for _ in range(2):
            p, a = pick("doctor")
            day = rng.choice(self.attack_days(a))
            self.busy[a.id].add(day)
            s = self.sid()
            self.emit(
                self.at(day, 8.3),
                a,
                "login",
                "session",
                session=s,
                ip=p.ip,
                route="/api/v2/auth/login",
                method="POST",
            )
            mine = sorted(
                x for x in self.appts if x[1] == a.id and x[3].date() == day and x[4] == "office"
            )
            for ap_ in mine:
                self.consult(a, ap_[3] + dt.timedelta(minutes=rng.randint(0, 15)), ap_[2], s, p.ip)
            ip = self.ip(["46.246.{}.{}", "194.36.{}.{}", "91.132.{}.{}"])
            ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
            t = self.at(day, 10.0)
            aid = self.add_attack(
                "session_hijack",
                [a],
                t,
                t + dt.timedelta(hours=1),
                f"{a.id}'s session token replayed from {ip} while the doctor works in the practice: 80 reads + an export",
            )
            for k, pid in enumerate(rng.sample(p.patients, 80)):
                self.emit(
                    t + dt.timedelta(seconds=30 * k),
                    a,
                    "read",
                    "patient",
                    session=s,
                    ip=ip,
                    ua=ua,
                    route="/api/v2/patients/{id}",
                    pids=[pid],
                    attack=aid,
                )
            exp = rng.sample(p.patients, min(500, len(p.patients)))
            self.emit(
                t + dt.timedelta(minutes=42),
                a,
                "export",
                "patient",
                session=s,
                ip=ip,
                ua=ua,
                method="POST",
                route="/api/v2/exports",
                pids=exp,
                attack=aid,
            )

        # 4. enumeration of sequential ids, most belong to other practices (refused)
        p, a = pick("secretary")
        day = rng.choice(self.attack_days(a))
        t = self.at(day, 12.7)  # lunch break, practice IP, the secretary's own session
        base = rng.randint(100001, self.max_pid - 1500)
        aid = self.add_attack(
            "enumeration_cross_practice",
            [a],
            t,
            t + dt.timedelta(minutes=50),
            f"{a.id} walks ids {base}..{base + 1199} at lunch: own-practice ids served, others refused",
        )
        s = self.sid()
        self.emit(
            t,
            a,
            "login",
            "session",
            session=s,
            ip=p.ip,
            route="/api/v2/auth/login",
            method="POST",
            attack=aid,
        )
        for k in range(1200):
            pid = str(base + k)
            ok = self.patient_tenant.get(pid) == p.id
            self.emit(
                t + dt.timedelta(seconds=2.5 * k + 1),
                a,
                "read",
                "patient",
                session=s,
                ip=p.ip,
                route="/api/v2/patients/{id}",
                pids=[pid],
                status=200 if ok else 403,
                attack=aid,
            )

        # 5. campaign: 9 accounts in 6+ practices, same hosting range and UA, same rhythm, same days
        camp_accts: list[Actor] = []
        practices = [x for x in self.practices if x.kind != "paramed"]
        rng.shuffle(practices)
        for px in practices:  # 9 accounts in 7 practices: two practices give two accounts
            if len(camp_accts) >= 9:
                break
            c = [x for x in px.actors if x.role in ("doctor", "secretary") and x.id not in taken]
            rng.shuffle(c)
            for x in c[: 2 if len(camp_accts) < 4 else 1]:
                taken.add(x.id)
                camp_accts.append(x)
        d1 = self.days()[rng.randint(8, 15)]
        while d1.weekday() >= 5 or d1 in CLOSED:
            d1 += dt.timedelta(days=1)
        ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 Safari/537.36"
        aid = self.add_attack(
            "campaign",
            camp_accts,
            self.at(d1, 18.0),
            self.at(d1 + dt.timedelta(days=1), 23.0),
            f"{len(camp_accts)} accounts in {len({x.tenant for x in camp_accts})} practices, 193.32.126-127.x, same UA, 18-23h on 2 days, 60 reads each at a fixed 20 s rhythm",
        )
        for x in camp_accts:
            px = self.practice(x.tenant)
            for d in (d1, d1 + dt.timedelta(days=1)):
                ip = f"193.32.{rng.choice([126, 127])}.{rng.randint(2, 250)}"
                t = self.at(d, 18.0 + rng.random() * 4)
                s = self.sid()
                self.emit(
                    t,
                    x,
                    "login",
                    "session",
                    session=s,
                    ip=ip,
                    ua=ua,
                    route="/api/v2/auth/login",
                    method="POST",
                    attack=aid,
                )
                for k, pid in enumerate(rng.sample(px.patients, 30)):
                    self.emit(
                        t + dt.timedelta(seconds=20 * k + 20),
                        x,
                        "read",
                        "patient",
                        session=s,
                        ip=ip,
                        ua=ua,
                        route="/api/v2/patients/{id}",
                        pids=[pid],
                        attack=aid,
                    )

        # 6. credential stuffing: one IP tries many accounts; two succeed and read files
        ip = self.ip(["185.107.{}.{}", "45.155.{}.{}"])
        ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
        day = self.days()[rng.randint(5, 18)]
        t = self.at(day, 6.0)
        tried = rng.sample([x for x in self.actors.values() if x.id not in taken], 30)
        winners = tried[:2]
        for w in winners:
            taken.add(w.id)
        aid = self.add_attack(
            "credential_stuffing",
            winners,
            t,
            t + dt.timedelta(hours=2),
            f"{ip} tries 30 accounts x3 passwords at 06:00; {', '.join(w.id for w in winners)} succeed and read 50 files each",
            targeted=tried[2:],
        )
        k = 0
        for x in tried:
            for _ in range(3):
                self.emit(
                    t + dt.timedelta(seconds=7 * k),
                    x,
                    "login_failed",
                    "session",
                    session="",
                    ip=ip,
                    ua=ua,
                    route="/api/v2/auth/login",
                    method="POST",
                    status=401,
                    attack=aid,
                )
                k += 1
        for j, w in enumerate(winners):
            tt = t + dt.timedelta(seconds=7 * k + 60 + 900 * j)
            s = self.sid()
            self.emit(
                tt,
                w,
                "login",
                "session",
                session=s,
                ip=ip,
                ua=ua,
                route="/api/v2/auth/login",
                method="POST",
                attack=aid,
            )
            pw = self.practice(w.tenant)
            for i, pid in enumerate(rng.sample(pw.patients, min(50, len(pw.patients)))):
                self.emit(
                    tt + dt.timedelta(seconds=6 * i + 6),
                    w,
                    "read",
                    "patient",
                    session=s,
                    ip=ip,
                    ua=ua,
                    route="/api/v2/patients/{id}",
                    pids=[pid],
                    attack=aid,
                )

        # 7. snooping: a vip's file, a colleague's patient with a sensitive note; no care relationship
        vips = [q for q, v in self.patients.items() if v["vip"]]
        for target_pool, kind in (
            (vips, "vip_snooping"),
            (sorted(self.sensitive), "sensitive_note_snooping"),
        ):
            for _ in range(2):
                for _try in range(200):
                    pid = rng.choice(target_pool)
                    px = self.practice(self.patient_tenant[pid])
                    c = [
                        x
                        for x in px.actors
                        if x.role in ("doctor", "secretary")
                        and x.id not in taken
                        and pid not in x.panel
                        and self.attack_days(x)
                    ]
                    if c:
                        break
                else:
                    continue
                x = rng.choice(c)
                taken.add(x.id)
                day = rng.choice(self.attack_days(x))
                t = self.at(day, 12.4 + rng.random())
                aid = self.add_attack(
                    kind,
                    [x],
                    t,
                    t + dt.timedelta(minutes=5),
                    f"{x.id} ({x.role}) opens patient {pid} and its notes; no appointment, not theirs",
                )
                self.attacks[-1]["patient"] = pid
                s = self.sid()
                self.emit(
                    t - dt.timedelta(seconds=30),
                    x,
                    "login",
                    "session",
                    session=s,
                    ip=px.ip,
                    route="/api/v2/auth/login",
                    method="POST",
                    attack=aid,
                )
                last = self.patients[pid]["last_name"]
                hits = [
                    q
                    for q in self.prefix_index[px.id][last[:3]]
                    if self.patients[q]["last_name"] == last
                ][:25]
                self.emit(
                    t,
                    x,
                    "search",
                    "patient",
                    session=s,
                    ip=px.ip,
                    route="/api/v2/patients/search",
                    pids=hits,
                    query=f"nom={last}",
                    attack=aid,
                )
                self.emit(
                    t + dt.timedelta(seconds=20),
                    x,
                    "read",
                    "patient",
                    session=s,
                    ip=px.ip,
                    route="/api/v2/patients/{id}",
                    pids=[pid],
                    attack=aid,
                )
                self.emit(
                    t + dt.timedelta(seconds=50),
                    x,
                    "read",
                    "annotation",
                    session=s,
                    ip=px.ip,
                    route="/api/v2/patients/{id}/notes",
                    pids=[pid],
                    records=max(1, len(self.notes_by_patient.get(pid, []))),
                    attack=aid,
                )

        # 8. scraping: a compromised secretary account pages through search prefixes, then exports
        p, a = pick("secretary")
        day = rng.choice(self.attack_days(a))
        t = self.at(day, 19.5)
        ip = self.ip(["45.134.{}.{}", "51.89.{}.{}"])
        ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
        aid = self.add_attack(
            "search_prefix_scraping",
            [a],
            t,
            t + dt.timedelta(hours=1),
            f"{a.id}'s account from {ip} after hours: searches AA..ZZ, pages lists, exports",
        )
        s = self.sid()
        self.emit(
            t,
            a,
            "login",
            "session",
            session=s,
            ip=ip,
            ua=ua,
            route="/api/v2/auth/login",
            method="POST",
            attack=aid,
        )
        k = 0
        for c1 in "ABCDEFGHIJKLMNOPRSTV":
            for c2 in "AEIOU":
                pref = c1 + c2
                hits = [
                    q
                    for key, lst in self.prefix_index[p.id].items()
                    if key.startswith(pref)
                    for q in lst
                ][:50]
                self.emit(
                    t + dt.timedelta(seconds=10 * k + 10),
                    a,
                    "search",
                    "patient",
                    session=s,
                    ip=ip,
                    ua=ua,
                    route="/api/v2/patients/search",
                    pids=hits,
                    query=f"nom={pref}*&size=50",
                    attack=aid,
                )
                k += 1
        self.emit(
            t + dt.timedelta(seconds=10 * k + 30),
            a,
            "export",
            "patient",
            session=s,
            ip=ip,
            ua=ua,
            method="POST",
            route="/api/v2/exports",
            pids=list(p.patients),
            query="format=csv",
            attack=aid,
        )

    # ---------- output
    def relationship(self, atk: dict[str, Any]) -> dict[str, Any]:
        """What, in the data, could explain a snooping read (computed after the fact, for honesty)."""
        pid, (tenant, actor) = atk["patient"], atk["accounts"][0]
        t0 = dt.datetime.fromisoformat(atk["start"])
        earlier_own, earlier_bulk_by_colleague, earlier_single_by_colleague = [], [], []
        for e in self.events:
            if e["ts"] >= t0 or e.get("_attack") or pid not in e["patient_ids"]:
                continue
            if e["actor"] == actor:
                earlier_own.append(f"{ts_iso(e['ts'])} {e['action']} {e['resource']}")
            elif e["tenant"] == tenant and len(e["patient_ids"]) > 25:
                earlier_bulk_by_colleague.append(
                    f"{ts_iso(e['ts'])} {e['actor']} {e['action']} {e['resource']} ({len(e['patient_ids'])} ids)"
                )
            elif e["tenant"] == tenant and e["action"] not in ("search", "list"):
                earlier_single_by_colleague.append(
                    f"{ts_iso(e['ts'])} {e['actor']} {e['action']} {e['resource']}"
                )
        appts = [f"{ts_iso(x[3])} {x[1]}" for x in self.appts if x[2] == pid]
        return {
            "own_note_in_context": [
                n["annotation_id"]
                for n in self.notes
                if n["patient_id"] == pid and n["author"] == actor
            ],
            "earlier_access_by_actor": earlier_own[:5],
            "appointments_in_window": appts,
            "earlier_bulk_list_export_by_colleague": earlier_bulk_by_colleague[:5],
            "earlier_care_by_colleague": earlier_single_by_colleague[-3:],
        }

    def write(self, out: Path) -> dict[str, Any]:
        for atk in self.attacks:
            if "patient" in atk:
                atk["relationship"] = self.relationship(atk)
        ctx = out / "context"
        ctx.mkdir(parents=True, exist_ok=True)
        self.events.sort(key=lambda e: e["ts"])
        attack_events: dict[str, list[list[Any]]] = defaultdict(list)
        active: set[tuple[str, str, str]] = set()
        with open(out / "events.jsonl", "w", encoding="utf-8") as f:
            for n, e in enumerate(self.events):
                e["event_id"] = f"bw{self.seed}-{n:07d}"
                atk = e.pop("_attack", None)
                t = e["ts"]
                e["ts"] = ts_iso(t)
                if atk:
                    attack_events[atk].append(
                        [
                            e["ts"],
                            e["tenant"],
                            e["actor"],
                            e.get("records", len(e["patient_ids"])) if e["status"] < 400 else 0,
                        ]
                    )
                else:
                    active.add((e["tenant"], e["actor"], t.date().isoformat()))
                f.write(json.dumps(e, ensure_ascii=False) + "\n")
        with open(ctx / "actors.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["actor", "tenant", "role", "created"])
            for a in self.actors.values():
                w.writerow([a.id, a.tenant, a.role, a.created.isoformat()])
        with open(ctx / "patients.csv", "w", newline="", encoding="utf-8") as f:
            cols = list(next(iter(self.patients.values())).keys())
            dw = csv.DictWriter(f, fieldnames=cols)
            dw.writeheader()
            dw.writerows(self.patients.values())
        with open(ctx / "appointments.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["tenant", "actor", "patient_id", "start"])
            for tenant, actor, pid, start, _ in sorted(self.appts, key=lambda x: x[3]):
                w.writerow([tenant, actor, pid, ts_iso(start)])
        with open(ctx / "annotations.csv", "w", newline="", encoding="utf-8") as f:
            dw = csv.DictWriter(
                f, fieldnames=["annotation_id", "patient_id", "tenant", "author", "created", "text"]
            )
            dw.writeheader()
            dw.writerows(self.notes)
        truth = {
            "seed": self.seed,
            "start": START.isoformat(),
            "days": DAYS,
            "events": len(self.events),
            "actors": len(self.actors),
            "patients": len(self.patients),
            "practices": {p.id: p.kind for p in self.practices},
            "active_account_days": len(active),
            "attacks": self.attacks,
            "benign": self.benign,
            "attack_events": attack_events,
        }
        (out / "truth.json").write_text(
            json.dumps(truth, indent=1, ensure_ascii=False), encoding="utf-8"
        )
        return truth


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--refused-ids",
        action="store_true",
        help="refused reads (403) still name the requested patient id in patient_ids (default: empty, nothing was carried)",
    )
    args = ap.parse_args()
    w = World(args.seed, args.refused_ids)
    w.build()
    w.schedule()
    w.benign_cases()
    w.purge_appointments()
    w.attacks_plan()
    w.normal_activity()
    truth = w.write(args.out)
    print(
        json.dumps(
            {k: truth[k] for k in ("seed", "events", "actors", "patients", "active_account_days")}
            | {"attacks": len(truth["attacks"]), "benign": len(truth["benign"])}
        )
    )


if __name__ == "__main__":
    main()
