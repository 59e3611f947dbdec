# ruff: noqa: E501  (a lexicon: long template lines read better unbroken)
"""French free-text notes with their true labels (sensitivity and INTERFACE §5 categories).

Notes are built compositionally: a note is a few clauses drawn from per-category
grammars, mixed with administrative clauses, negated findings and family history,
joined with varied punctuation and casing.  A template expander (`[a|b]` picks one,
`{slot}` fills a slot) multiplies the surface forms so that a classifier cannot learn
the generator's templates by heart.

Labelling rules (documented in docs/sim.md):
- a clause that affirms a condition carries its category (family history included:
  "mère diabétique" is `health`, "père alcoolique" is `addiction`);
- a negated finding ("pas de ...", "absence de ...") reveals no condition of its
  category, but a clinical examination still makes the note `health`;
- purely administrative notes (scheduling, contact, billing, transfers, who
  accompanies the patient) are not sensitive.
"""

from __future__ import annotations

import random
import re
from typing import Any

CATEGORIES = (
    "health",
    "mental_health",
    "addiction",
    "sexual_health",
    "reproductive",
    "sex_life",
    "gender_identity",
    "political",
    "religion",
    "union",
    "ethnic_origin",
    "genetic",
    "judicial",
    "violence",
    "social",
)
CATEGORY_WEIGHTS = (34, 12, 8, 5, 8, 2, 2, 3, 4, 2, 3, 3, 4, 5, 8)

SLOTS: dict[str, tuple[str, ...]] = {
    "dr": (
        "Dr Martin",
        "Dr Lefèvre",
        "Dr Nguyen",
        "Dr Benali",
        "Dr Roux",
        "le Dr Garnier",
        "Dr Moreau",
        "Dr Perrin",
        "le confrère",
        "Dr Faure",
        "Dr Haddad",
        "Dr Colin",
    ),
    "date": (
        "12/03",
        "03/01",
        "le 15/09",
        "28/11",
        "2/02",
        "le 7/06",
        "lundi",
        "mardi dernier",
        "fin du mois",
        "21/10",
        "J15",
        "sem. pro",
        "le 30/04",
        "14/12",
    ),
    "year": (
        "2015",
        "2017",
        "2018",
        "2019",
        "2020",
        "2021",
        "2022",
        "2023",
        "2024",
        "2009",
        "2012",
        "2008",
        "2016",
        "2025",
    ),
    "imc": ("31", "33", "35", "38", "41", "28", "29"),
    "relative": (
        "mère",
        "père",
        "sœur",
        "frère",
        "grand-mère mat.",
        "grand-père pat.",
        "oncle",
        "tante",
        "mère et tante",
        "père (décédé)",
        "GM maternelle",
        "fils",
    ),
    "relative_acc": (
        "sa fille",
        "son fils",
        "son épouse",
        "son mari",
        "sa mère",
        "son père",
        "une voisine",
        "l'aide à domicile",
        "sa nièce",
        "son compagnon",
        "sa compagne",
        "l'infirmière",
    ),
    "dose": ("5mg", "10 mg", "20mg", "1g", "500 mg", "2,5mg", "75mg", "0,5 mg", "40 mg", "1000mg"),
    "freq": (
        "1cp/j",
        "1 cp le soir",
        "matin et soir",
        "2x/j",
        "1/j",
        "si besoin",
        "x3/j",
        "1 le matin",
        "au coucher",
        "1 sem/2",
    ),
    "spec": (
        "cardio",
        "dermato",
        "ORL",
        "ophtalmo",
        "rhumato",
        "gastro",
        "pneumo",
        "endocrino",
        "neuro",
        "uro",
        "gynéco",
        "kiné",
        "radio",
    ),
    "hosp": ("CHU", "clinique", "CH", "hôpital", "SAU", "urgences", "HDJ"),
    "exam": (
        "bilan sanguin",
        "BS",
        "ECG",
        "écho abdo",
        "radio thorax",
        "IRM lombaire",
        "TDM",
        "EFR",
        "écho-doppler",
        "bilan lipidique",
        "HbA1c",
        "NFS",
        "TSH",
        "créat",
        "ionogramme",
    ),
    "num": ("2", "3", "4", "5", "6", "8", "10", "12", "15"),
    "weekday": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi"),
    "hour": ("9h", "10h30", "14h", "17h15", "8h45", "11h", "16h", "18h"),
    "mutuelle": ("MGEN", "Harmonie", "AG2R", "Malakoff", "la mutuelle", "MAAF", "Axa"),
}

ADMIN = (
    "[Rdv|RDV|rdv] [décalé|reporté|déplacé] [au|à] {date}[ à {hour}|]",
    "[Patient|Pte|Pt] [prévenu|prévenue|informé] par [tél|téléphone|SMS] [du changement|du report|]",
    "[Nouveau|Nvx|nouveau] [n°|numéro|tel] [: 06 XX|communiqué|à mettre à jour] [au secrétariat|]",
    "[Adresse|adresse] [modifiée|changée|à vérifier] [suite déménagement|]",
    "[Dossier|DMP|dossier] [transmis|envoyé|transféré] [au|à] {dr}[ à sa demande|]",
    "[Préfère|préfère] être [appelé|appelée|contacté] [le matin|l'après-midi|après {hour}|sur le portable]",
    "[Ne pas|ne pas|NE PAS] [appeler|laisser de message] sur le fixe",
    "[Accompagné|Accompagnée|accompagné] [de|par] {relative_acc}",
    "[Vient|vient] [toujours|habituellement|souvent] avec {relative_acc}",
    "[Carte vitale|CV|carte Vitale] [non à jour|à mettre à jour|oubliée|pas présentée]",
    "[Mutuelle|mutuelle] [{mutuelle}|] [à mettre à jour|changée|attestation reçue|expirée]",
    "[Tiers payant|TP] [ok|OK|accepté|à faire]",
    "[Règlement|Paiement|réglé] [par chèque|en espèces|CB|par virement][ le {date}|]",
    "[Facture|facture|Note d'honoraires] [envoyée|à renvoyer|remise][ par mail|]",
    "[Courrier|courrier|Compte rendu|CR] [reçu|scanné|classé|à scanner][ de {dr}|]",
    "[Annulé|annulé|Annulation] [par le patient|par tél|la veille]",
    "[Ordonnance|ordo|Ordo] à [récupérer|déposer|retirer] au secrétariat",
    "[Rappeler|rappeler|A rappeler] [pour|afin de] [fixer|caler|confirmer] [un|le] rdv",
    "[Pas de|pas de] [rdv|créneau] [dispo|disponible] avant {date}[, mettre sur liste d'attente|]",
    "[Absent|absente|Pas venu|pas venue] au rdv [du {date}|][, ne pas facturer|]",
    "[Doublon|doublon] [possible|] [avec un autre dossier|fusion à faire][ (même date de naissance)|]",
    "[Mail|mail|Adresse mail] [erronée|à corriger|corrigée]",
    "[Retard|retard] [fréquent|habituel] [, prévoir créneau en fin de matinée|]",
    "[Consultation|cs|Cs] [longue|double] [à prévoir|souhaitée]",
    "[Médecin traitant|MT] [déclaré|déclaration à faire|à déclarer][ le {date}|]",
    "[Certificat|certif] [sport|école|crèche] [à préparer|remis|à signer]",
    "[Préfère|préfère|Souhaite] les rdv [en fin de journée|le samedi|tôt le matin]",
    "[Stagiaire|interne] [présent|présente] lors de la cs, [accord du patient|patient d'accord]",
)

CLINICAL: dict[str, tuple[str, ...]] = {
    "health": (
        "[HTA|hypertension artérielle|HTA essentielle] [équilibrée|mal équilibrée|connue "
        "depuis {year}][ sous {drug_cv}|]",
        "[DT2|diabète type 2|Diabète de type 2|DNID] [sous {drug_dt}|] [HbA1c|hba1c] à "
        "[6,8|7,2|8,1|7,9|6,4] %",
        "[ATCD|Atcd|antécédent] [d'IDM|d'infarctus|de phlébite|d'AVC|de cholécystectomie|"
        "d'appendicectomie|de fracture du col] [en {year}|]",
        "[Asthme|asthme|BPCO] [stable|exacerbé cet hiver][ sous {drug_resp}|]",
        "[Lombalgie|lombalgies|Sciatique|Gonalgie] [chronique|récidivante|aiguë][, kiné {num} séances|]",
        "[Hypothyroïdie|hypothyroidie] [sous Levothyrox {dose}|substituée][, TSH {date}|]",
        "[Allergie|allergie|ALLERGIE] [pénicilline|aux AINS|à l'aspirine|aux arachides|iode]",
        "[Suivi|suivi|Surveillance] {spec} [pour|:] [FA|fibrillation atriale|insuffisance "
        "cardiaque|psoriasis|glaucome|Crohn|polyarthrite|DMLA|épilepsie]",
        "[Cancer|K|Néo] [du sein|prostate|colon|pulmonaire|thyroïde] [en rémission|sous chimio|"
        "opéré en {year}|en cours de bilan]",
        "{exam} [le {date}|à refaire|fait][ : RAS| normal| perturbé| à contrôler dans {num} mois|]",
        "[Vaccin|vaccin|VAT|Rappel] [grippe|covid|DTP|zona|pneumo] [fait|à faire|fait le {date}]",
        "[TA|ta] [13/8|14/9|15/9|12/7|16/10][, FC {num}0|][, poids {num}{num} kg|]",
        "[Insuffisance rénale|IRC|insuffisance rénale chronique] [stade 3|modérée][, clairance "
        "{num}{num}|]",
        "[Migraines|Céphalées|migraine] [fréquentes|avec aura|sous {drug_misc}]",
        "[Handicap|handicap|MDPH] [moteur|visuel|auditif][, fauteuil roulant|, dossier MDPH en cours|]",
        "[Obésité|obésité|Surpoids] [IMC|imc] {imc}[, sleeve en {year}|]",
        "[Infection urinaire|cystite|angine|otite|bronchite|gastro] [, TTT {drug_misc} {freq}|"
        "traitée|récidivante]",
    ),
    "mental_health": (
        "[Syndrome dépressif|dépression|Épisode dépressif|EDM] [sous {drug_psy}|en cours de "
        "TTT|réactionnel][ depuis {year}|]",
        "[Anxiété|TAG|trouble anxieux|Crises d'angoisse] [, suivi psy|sous {drug_psy}|importante]",
        "[Idées suicidaires|IDS|idées noires|TS] [en {year}|il y a {num} ans|évoquées|"
        "verbalisées][, orientée CMP|, hospitalisation psy|]",
        "[Suivi|suivi|Suivie] [CMP|psychiatre|psychologue|en psychiatrie][ tous les {num} mois|]",
        "[Trouble bipolaire|bipolaire|schizophrénie|TCA|anorexie|boulimie] [stabilisé|connu|"
        "sous {drug_psy}]",
        "[Burn-out|burn out|épuisement professionnel] [, AT {num} sem|, arrêt prolongé|]",
        "[Hospitalisation|Hospit|séjour] en [psychiatrie|clinique psy|HP] [en {year}|]",
    ),
    "addiction": (
        "[OH|Alcool|alcool|Éthylisme] [chronique|{num} verres/j|sevré depuis {year}|sevrage en cours]",
        "[Tabac|tabac|tabagisme] [actif|{num}{num} PA|{num} cig/j][, sevrage proposé|, patchs|]",
        "[TSO|Traitement substitutif|Substitution] [méthadone|buprénorphine|Subutex] [{dose}|]"
        "[, CSAPA|]",
        "[Cannabis|cannabis|Consommation de cannabis] [quotidien|régulière|occasionnelle]",
        "[Cocaïne|cocaïne|héroïne|Héroïne] [, ancien usager|, consommation récente|]",
        "[Jeu pathologique|Addiction aux jeux|paris en ligne] [, dettes de jeu|, suivi CSAPA|]",
    ),
    "sexual_health": (
        "[VIH+|Sérologie VIH positive|VIH] [sous trithérapie|CV indétectable|découvert en {year}]",
        "[PrEP|Prep|prep] [en cours|renouvelée|à débuter][, bilan IST {date}|]",
        "[Hépatite B|VHB|Hépatite C|VHC] [chronique|guérie|en cours de TTT]",
        "[IST|Chlamydia|Gonocoque|Syphilis|syphilis] [traitée|dépistée le {date}|à recontrôler]",
        "[Dépistage IST|sérologies IST] [positif|à refaire, partenaire positif]",
    ),
    "reproductive": (
        "[Grossesse|grossesse|GRO] [en cours|{num} SA|à {num} SA][, DPA {date}|]",
        "[IVG|ivg] [médicamenteuse|] [en {year}|le {date}|demandée]",
        "[Fausse couche|FCS|fausse-couche] [en {year}|à {num} SA|précoce]",
        "[PMA|FIV|Parcours PMA|stimulation ovarienne] [en cours|{num}e tentative|échec]",
        "[Contraception|contraception|Pilule|DIU|Implant] [{drug_contra}|à renouveler|posé le {date}]",
        "[Infertilité|infertilité du couple] [, bilan en cours|]",
    ),
    "sex_life": (
        "[Homosexuel|homosexuelle|Bisexuel] [, vit avec son compagnon|, en couple|]",
        "[Troubles de l'érection|dysfonction érectile|Baisse de libido] [, ttt {drug_misc}|]",
        "[Partenaires multiples|multipartenariat|Relations hors couple] [, conseil prévention|]",
        "[Difficultés sexuelles|dyspareunie] [dans le couple|, orientée sexologue]",
    ),
    "gender_identity": (
        "[Transition|transition|Parcours de transition] [en cours|débutée en {year}][, THS|]",
        "[Personne trans|Femme trans|Homme trans|Non binaire] [, prénom d'usage à utiliser|]",
        "[Dysphorie de genre|dysphorie de genre] [, suivi endocrino|, orientée équipe spécialisée]",
    ),
    "political": (
        "[Élu|élue|Maire|Conseiller municipal|Conseillère départementale] [de la commune|"
        "{party}|][, très médiatisé|]",
        "[Militant|militante|Engagé|engagée] [{party}|politiquement][, candidat aux municipales|]",
        "[Député|députée|Sénateur|sénatrice] [, personnalité publique|, discrétion++]",
    ),
    "religion": (
        "[Témoin de Jéhovah|Témoins de Jéhovah] [, refuse toute transfusion|, refus transfusion]",
        "[Ramadan|ramadan|Jeûne du ramadan] [, adapter TTT|, adapter les prises]",
        "[Pratiquant|pratiquante|Croyant|Catholique pratiquant|Juif pratiquant|Musulmane "
        "pratiquante] [, pas de rdv le samedi|, alimentation casher|, régime halal|]",
        "[Végétalien|végane|Végan] par conviction [éthique|philosophique]",
    ),
    "union": (
        "[Délégué|déléguée|Représentant] [syndical|CGT|CFDT|FO|SUD] [, conflit avec "
        "l'employeur|, AT contesté|]",
        "[Syndiqué|syndiquée|Adhérent] [CGT|CFDT|FO|à un syndicat][, mandat au CSE|]",
    ),
    "ethnic_origin": (
        "[Originaire|originaire] [d'Afrique subsaharienne|du Maghreb|d'Asie du Sud-Est|des Antilles|"
        "d'Europe de l'Est][, drépanocytose à rechercher|]",
        "[Demandeur d'asile|demandeuse d'asile|Réfugié|Réfugiée|Sans papiers|sans titre de séjour]"
        "[, AME|, arrivé en {year}|]",
        "[Communauté|communauté] [rom|gitane|des gens du voyage][, vit en caravane|]",
    ),
    "genetic": (
        "[Mutation|mutation|Porteuse] [BRCA1|BRCA2|BRCA] [confirmée|, conseil génétique|]",
        "[Porteur sain|porteur|Hétérozygote] [mucoviscidose|drépanocytose|hémochromatose]",
        "[Test génétique|Analyse génétique|Caryotype] [positif|anormal|: trisomie 21][ en {year}|]",
        "[Chorée de Huntington|Huntington] [dans la famille, test positif|test présymptomatique "
        "positif]",
    ),
    "judicial": (
        "[Incarcéré|incarcérée|Détenu|Sortie de détention] [en {year}|depuis {date}|{num} mois]",
        "[Condamnation|condamné|Casier] [pour violences|pour vol|pour conduite en état "
        "d'ivresse|TIG en cours]",
        "[Garde des enfants|garde|Droit de visite] [retirée|confiée au père|confiée à la mère|"
        "suspendu] [par le JAF|par décision du juge]",
        "[Bracelet électronique|Sous contrôle judiciaire|Obligation de soins] [, {num} mois|]",
        "[Procédure|procédure] [judiciaire|pénale|prud'homale] en cours",
    ),
    "violence": (
        "[Violences conjugales|violences conjugales|VIF|Victime de violences] [, certificat "
        "fait le {date}|, plainte déposée|, hébergée chez {relative_acc}|]",
        "[Maltraitance|maltraitance|Suspicion de maltraitance] [, IP transmise|, signalement "
        "au procureur|, enfant placé]",
        "[Agression sexuelle|Viol|viol] [en {year}|dans l'enfance|rapporté(e)]",
        "[Harcèlement|harcèlement] [au travail|scolaire|moral][, arrêt|, plainte|]",
        "+health:[Hématomes|ecchymoses] [multiples|suspectes][, dit être tombée|]",
    ),
    "social": (
        "[CSS|C2S|CMU-C|AME] [en cours|renouvelée|expirée]",
        "[RSA|rsa|AAH|ASS] [, sans emploi|, au chômage|]",
        "[Sans domicile|SDF|Hébergé au 115|sans domicile fixe] [depuis {year}|, domiciliation CCAS|]",
        "[Surendettement|dossier de surendettement|Dettes importantes] [, assistante sociale|]",
        "[Sous tutelle|Sous curatelle|curatelle renforcée|tutelle] [, mandataire : UDAF|"
        ", contacter le curateur|]",
        "[Précarité|précarité|Difficultés financières] [, renonce aux soins|, ne peut payer|]",
        "[Expulsion|expulsion] [locative|du logement] [imminente|prévue {date}]",
    ),
}

FAMILY: dict[str, tuple[str, ...]] = {
    "health": (
        "{relative} [diabétique|DT2|HTA|cancer du sein|cancer colon|IDM à {num}0 ans|AVC|"
        "Alzheimer|asthmatique]",
    ),
    "mental_health": ("{relative} [dépressif|dépressive|suicidé|suicidée|bipolaire|schizophrène]",),
    "addiction": ("{relative} [alcoolique|OH chronique|toxicomane]",),
    "genetic": ("{relative} porteur [BRCA1|BRCA2|mutation familiale]",),
}
FAMILY_PREFIX = (
    "ATCD fam : ",
    "ATCD familiaux: ",
    "Famille : ",
    "atcd fam. ",
    "Dans la famille, ",
    "ATCDF : ",
)

NEGATED = (
    "[pas de|Pas de|absence de|Absence de|pas d'|sans] [fièvre|douleur thoracique|dyspnée|"
    "OMI|signe de gravité|perte de poids|toux|céphalée|trouble du transit|saignement]",
    "[pas d'ATCD|Pas d'ATCD|aucun ATCD|Atcd : RAS|ATCD: 0] [notable|particulier|chir|]",
    "[non fumeur|Non fumeuse|pas de tabac|tabac : 0|pas d'OH|OH : 0|pas de conso d'alcool]",
    "[RAS|ras|Examen normal|examen clinique RAS|auscultation RAS]",
    "[pas d'allergie connue|Allergies : aucune|PAS D'ALLERGIE]",
    "[pas d'idées suicidaires|Pas d'idées noires|absence d'IDS]",
)
DRUGS = {
    "drug_cv": (
        "amlodipine",
        "Coversyl",
        "ramipril",
        "bisoprolol",
        "Kardégic",
        "statine",
        "irbésartan",
    ),
    "drug_dt": ("metformine", "Ozempic", "Januvia", "insuline", "Trulicity", "glicazide"),
    "drug_resp": ("Ventoline", "Symbicort", "Seretide", "Spiriva"),
    "drug_psy": (
        "sertraline",
        "escitalopram",
        "Seroplex",
        "Deroxat",
        "lithium",
        "Xanax",
        "venlafaxine",
        "aripiprazole",
        "quétiapine",
    ),
    "drug_misc": (
        "paracétamol",
        "Doliprane",
        "ibuprofène",
        "amoxicilline",
        "Augmentin",
        "Tramadol",
        "Cialis",
        "fosfomycine",
        "triptan",
    ),
    "drug_contra": ("Leeloo", "Optimizette", "DIU cuivre", "Nexplanon", "Mirena"),
}
PARTIES = ("parti local", "liste municipale", "LR", "PS", "RN", "LFI", "EELV", "Renaissance", "PCF")

_TOKEN = re.compile(r"\[|\]|\||\{[a-z_]+\}|[^\[\]|{]+|\{")


def expand(template: str, r: random.Random) -> str:
    """Expand `[a|b]` alternatives (nestable) and `{slot}` fillers.

    Templates are parsed once; expanding the parsed form draws from `r` exactly as
    `expand_tokens` does (every alternative is expanded, left to right, then one is
    chosen), so the text is the same for the same generator state."""
    nodes = _COMPILED.get(template)
    if nodes is None:
        nodes = _COMPILED[template] = _parse(_TOKEN.findall(template), 0)[0]
    return _eval(nodes, r)


def expand_tokens(template: str, r: random.Random) -> str:
    """`expand` by walking the tokens as they are read (the reference form)."""
    out, _ = _expand(list(_TOKEN.findall(template)), 0, r)
    return out


# parsed template: literal text, ("slot", choices), ("seq", nodes) or ("group", options)
_Node = str | tuple[str, Any]
_COMPILED: dict[str, list[_Node]] = {}


def _parse(tokens: list[str], i: int) -> tuple[list[_Node], int]:
    nodes: list[_Node] = []
    while i < len(tokens):
        tok = tokens[i]
        if tok == "[":
            options: list[list[_Node]] = []
            cur: list[_Node] = []
            i += 1
            while i < len(tokens) and tokens[i] != "]":
                if tokens[i] == "|":
                    options.append(cur)
                    cur = []
                    i += 1
                elif tokens[i] == "[":
                    sub, i = _parse_group(tokens, i)
                    cur.append(sub)
                else:
                    cur.append(_leaf(tokens[i]))
                    i += 1
            options.append(cur)
            nodes.append(("group", options))
            i += 1
        elif tok in ("]", "|"):
            return nodes, i
        else:
            nodes.append(_leaf(tok))
            i += 1
    return nodes, i


def _parse_group(tokens: list[str], i: int) -> tuple[_Node, int]:
    depth, j = 0, i
    while j < len(tokens):
        if tokens[j] == "[":
            depth += 1
        elif tokens[j] == "]":
            depth -= 1
            if depth == 0:
                break
        j += 1
    nodes, _ = _parse(tokens[i : j + 1], 0)
    return ("seq", nodes), j + 1


def _leaf(tok: str) -> _Node:
    if tok.startswith("{") and tok.endswith("}"):
        name = tok[1:-1]
        if name in SLOTS:
            return ("slot", SLOTS[name])
        if name in DRUGS:
            return ("slot", DRUGS[name])
        if name == "party":
            return ("slot", PARTIES)
    return tok


def _eval(nodes: list[_Node], r: random.Random) -> str:
    parts: list[str] = []
    for node in nodes:
        if isinstance(node, str):
            parts.append(node)
        elif node[0] == "slot":
            parts.append(r.choice(node[1]))
        elif node[0] == "seq":
            parts.append(_eval(node[1], r))
        else:
            parts.append(r.choice([_eval(o, r) for o in node[1]]))
    return "".join(parts)


def _expand(tokens: list[str], i: int, r: random.Random) -> tuple[str, int]:
    parts: list[str] = []
    while i < len(tokens):
        tok = tokens[i]
        if tok == "[":
            options: list[str] = []
            cur: list[str] = []
            i += 1
            while i < len(tokens) and tokens[i] != "]":
                if tokens[i] == "|":
                    options.append("".join(cur))
                    cur = []
                    i += 1
                elif tokens[i] == "[":
                    sub, i = _expand_group(tokens, i, r)
                    cur.append(sub)
                else:
                    sub, i = _fill(tokens[i], r), i + 1
                    cur.append(sub)
            options.append("".join(cur))
            parts.append(r.choice(options))
            i += 1
        elif tok in ("]", "|"):
            return "".join(parts), i
        else:
            parts.append(_fill(tok, r))
            i += 1
    return "".join(parts), i


def _expand_group(tokens: list[str], i: int, r: random.Random) -> tuple[str, int]:
    depth, j = 0, i
    while j < len(tokens):
        if tokens[j] == "[":
            depth += 1
        elif tokens[j] == "]":
            depth -= 1
            if depth == 0:
                break
        j += 1
    text, _ = _expand(tokens[i : j + 1], 0, r)
    return text, j + 1


def _fill(tok: str, r: random.Random) -> str:
    if tok.startswith("{") and tok.endswith("}"):
        name = tok[1:-1]
        if name in SLOTS:
            return r.choice(SLOTS[name])
        if name in DRUGS:
            return r.choice(DRUGS[name])
        if name == "party":
            return r.choice(PARTIES)
    return tok


_SPACES = re.compile(r"[ \t]+")
_BEFORE_PUNCT = re.compile(r" +([,.])")


def _tidy(text: str) -> str:
    return _BEFORE_PUNCT.sub(r"\1", _SPACES.sub(" ", text)).strip(" ,")


def _style(clauses: list[str], r: random.Random) -> str:
    clauses = [_tidy(c) for c in clauses]
    sep = r.choice((". ", ". ", ", ", " - ", " ; ", "\n", ". ", " / "))
    text = sep.join(c.strip() for c in clauses if c.strip())
    mode = r.random()
    if mode < 0.15:
        text = text.lower()
    elif mode < 0.2:
        text = text.upper()
    elif mode < 0.7 and text:
        text = text[0].upper() + text[1:]
    if r.random() < 0.3:
        text += r.choice((".", "", " ", " !", "..."))
    if r.random() < 0.2:
        text = (
            r.choice(
                (
                    "Cs du {d} : ",
                    "NB: ",
                    "Note : ",
                    "Tel {d}: ",
                    "",
                    "Vu ce jour. ",
                    "Secrétariat : ",
                    "{d} - ",
                )
            ).replace("{d}", r.choice(SLOTS["date"]))
            + text
        )
    return text.replace("\n", " | ") if r.random() < 0.5 else text


def generate_note(r: random.Random, sensitive: bool) -> tuple[str, list[str]]:
    """One note and its true categories (empty for a non-sensitive note)."""
    clauses: list[str] = []
    cats: set[str] = set()
    if not sensitive:
        for _ in range(r.choice((1, 1, 1, 2, 2, 3))):
            clauses.append(expand(r.choice(ADMIN), r))
        if r.random() < 0.15:  # negation-shaped administrative sentence
            clauses.append(
                expand(
                    "[pas de|Pas de|aucun] [rdv|règlement|courrier|retour] "
                    "[reçu|à ce jour|pour l'instant]",
                    r,
                )
            )
        r.shuffle(clauses)
        return _style(clauses, r), []
    main = r.choices(CATEGORIES, weights=CATEGORY_WEIGHTS)[0]
    chosen = [main]
    if r.random() < 0.25:
        chosen.append(r.choices(CATEGORIES, weights=CATEGORY_WEIGHTS)[0])
    for cat in chosen:
        use_family = cat in FAMILY and r.random() < 0.2
        if use_family:
            clauses.append(r.choice(FAMILY_PREFIX) + expand(r.choice(FAMILY[cat]), r))
        else:
            for _ in range(r.choice((1, 1, 2))):
                tpl = r.choice(CLINICAL[cat])
                if tpl.startswith("+health:"):
                    tpl = tpl.removeprefix("+health:")
                    cats.add("health")
                clauses.append(expand(tpl, r))
        cats.add(cat)
    if r.random() < 0.35:
        neg = expand(r.choice(NEGATED), r)
        clauses.insert(r.randrange(len(clauses) + 1), neg)
        if cats <= {"political", "religion", "union", "ethnic_origin", "judicial", "social"}:
            cats.add("health")  # a clinical finding, even negated, is health data
    if r.random() < 0.3:
        clauses.insert(r.randrange(len(clauses) + 1), expand(r.choice(ADMIN), r))
    return _style(clauses, r), sorted(cats)
