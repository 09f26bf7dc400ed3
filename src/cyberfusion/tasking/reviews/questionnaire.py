"""The structured questionnaire of a national cyber review, kept as data: areas and their questions."""

from __future__ import annotations

AREAS: dict[str, str] = {
    "legislation": "Legislation",
    "capabilities": "Capabilities",
    "international_cooperation": "International cooperation",
    "public_private_partnership": "Public-private partnership",
    "training": "Training",
}

# question key -> (area, question)
QUESTIONS: dict[str, tuple[str, str]] = {
    "legislation.substantive": ("legislation", "Which offences against and by means of computer systems does "
                                               "national law define (illegal access, interference, fraud, "
                                               "child abuse material, ...)?"),
    "legislation.procedural": ("legislation", "Which procedural powers exist for electronic evidence "
                                              "(preservation, production orders, search and seizure, "
                                              "interception), and with which safeguards?"),
    "legislation.jurisdiction": ("legislation", "How is jurisdiction over cybercrime established, including "
                                                "offences committed from abroad?"),
    "capabilities.units": ("capabilities", "Which specialised cybercrime units exist, at which level, with "
                                           "how many investigators?"),
    "capabilities.forensics": ("capabilities", "What digital forensics capacity exists (laboratories, tools, "
                                               "accreditation, turnaround)?"),
    "capabilities.reporting": ("capabilities", "How can victims and businesses report cybercrime, and how are "
                                               "reports triaged?"),
    "international_cooperation.mla": ("international_cooperation", "How are mutual legal assistance requests "
                                                                   "for electronic evidence sent and answered, "
                                                                   "and how long do they take?"),
    "international_cooperation.contact_point": ("international_cooperation", "Is there a 24/7 point of contact "
                                                                             "for urgent cybercrime cooperation?"),
    "international_cooperation.instruments": ("international_cooperation", "Which international and regional "
                                                                           "instruments on cybercrime apply?"),
    "public_private_partnership.providers": ("public_private_partnership", "How do authorities cooperate with "
                                                                           "service providers (requests, "
                                                                           "takedowns, emergency disclosure)?"),
    "public_private_partnership.sharing": ("public_private_partnership", "Which arrangements exist to share "
                                                                         "threat information with industry and "
                                                                         "the CERT/CSIRT community?"),
    "training.law_enforcement": ("training", "What cybercrime and e-evidence training do investigators "
                                             "receive (initial, advanced, specialist)?"),
    "training.judiciary": ("training", "What training do prosecutors and judges receive on cybercrime and "
                                       "electronic evidence?"),
}

SCORE_SCALE = {0: "absent", 1: "initial", 2: "developing", 3: "established", 4: "advanced", 5: "leading practice"}


def questions_of(area: str) -> list[tuple[str, str]]:
    return [(key, text) for key, (a, text) in QUESTIONS.items() if a == area]
