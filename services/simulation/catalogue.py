"""Sample data for the demo: insurers, conditions, names and places (all fictitious)."""

from __future__ import annotations

#: The seed's four insurers and how each delivers second opinions.
INSURERS = {
    "AXA Health": {"prefix": "AXA", "product": "Personal Health", "model": "third_party", "sla": 10,
                   "note": "third-party expert network"},
    "Bupa": {"prefix": "BUPA", "product": "By You", "model": "in_house", "sla": 10,
             "note": "in-house clinical team"},
    "Aviva": {"prefix": "AVV", "product": "Healthier Solutions", "model": "further_consultation",
              "sla": 10, "note": "further consultation with a recognised specialist"},
    "Vitality": {"prefix": "VIT", "product": "Consultant Select", "model": "in_house", "sla": 7,
                 "note": "consultant panel, in-house"},
}

#: (name, ICD-10, specialty, nature, proposed treatment)
CONDITIONS = [
    ("Rotator cuff tear", "M75.1", "orthopaedics", "acute", "Open surgical repair"),
    ("Anterior cruciate ligament rupture", "S83.5", "orthopaedics", "acute", "ACL reconstruction"),
    ("Lumbar disc prolapse", "M51.1", "orthopaedics", "acute", "Microdiscectomy"),
    ("Osteoarthritis of hip", "M16.1", "orthopaedics", "chronic", "Total hip replacement"),
    ("Breast cancer", "C50.9", "oncology", "acute", "Mastectomy and adjuvant chemotherapy"),
    ("Prostate cancer", "C61", "oncology", "acute", "Radical prostatectomy"),
    ("Melanoma of skin", "C43.9", "dermatology", "acute", "Wide local excision"),
    ("Gallstones with cholecystitis", "K80.2", "gastroenterology", "acute", "Laparoscopic cholecystectomy"),
    ("Crohn's disease", "K50.9", "gastroenterology", "chronic", "Biologic therapy"),
    ("Atrial fibrillation", "I48.0", "cardiology", "acute", "Catheter ablation"),
    ("Coronary artery stenosis", "I25.1", "cardiology", "acute", "Coronary artery bypass graft"),
    ("Meningioma", "D32.0", "neurology", "acute", "Craniotomy and resection"),
    ("Multiple sclerosis", "G35", "neurology", "chronic", "Disease-modifying therapy"),
    ("Kidney stones", "N20.0", "urology", "acute", "Percutaneous nephrolithotomy"),
    ("Chronic sinusitis", "J32.9", "ent", "chronic", "Functional endoscopic sinus surgery"),
    ("Cataract", "H25.9", "ophthalmology", "acute", "Phacoemulsification"),
]

SPECIALTIES = sorted({c[2] for c in CONDITIONS})

FIRST_NAMES = ["Olivia", "Amelia", "Isla", "Ava", "Mia", "Noah", "Oliver", "George", "Arthur",
               "Leo", "Aisha", "Priya", "Sean", "Niamh", "Callum", "Eilidh", "Rhys", "Cerys",
               "Tomasz", "Fatima", "Mohammed", "Grace", "Harry", "Ruby", "Kwame", "Mei"]
SURNAMES = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Evans", "Thomas",
            "Roberts", "Walker", "Khan", "Patel", "Campbell", "Murray", "MacDonald", "Kelly",
            "O'Neill", "Hughes", "Davies", "Nowak", "Okafor", "Chen", "Hussain", "Reid"]

POSTCODES = {
    "ENG": ["SW1A 1AA", "M1 1AE", "LS1 4AP", "B1 1BB", "BS1 4DJ", "NE1 7RU", "CB2 1TN", "OX1 2JD"],
    "WLS": ["CF10 1EP", "SA1 1NW", "LL57 2DG", "NP20 1GA"],
    "SCT": ["EH1 1YZ", "G1 1XQ", "AB10 1AB", "DD1 4HN"],
    "NIR": ["BT1 5GS", "BT7 1NN", "BT48 6DQ"],
}
NATION_WEIGHTS = {"ENG": 0.7, "WLS": 0.1, "SCT": 0.12, "NIR": 0.08}

RECORD_SOURCES = {
    "gp_summary": "Registered GP practice",
    "clinical_letter": "Treating consultant",
    "imaging": "Hospital radiology department",
    "pathology": "Hospital pathology laboratory",
    "blood_test": "Hospital phlebotomy",
    "treatment_plan": "Treating consultant",
}

#: The reviewer directory the demo loads: in-house clinicians, networks, consultants.
def reviewer_directory() -> list[dict[str, object]]:
    entries: list[dict[str, object]] = []
    for i, specialty in enumerate(SPECIALTIES):
        for n in range(2):
            entries.append({"id": f"IH-{specialty[:4].upper()}-{n + 1}", "kind": "in_house",
                            "name": f"Dr {SURNAMES[(i * 2 + n) % len(SURNAMES)]} (in-house)",
                            "specialties": [specialty], "organisation": "clinical_team",
                            "gmc_number": f"{7000000 + i * 10 + n}"})
            entries.append({"id": f"CS-{specialty[:4].upper()}-{n + 1}", "kind": "consultant",
                            "name": f"Mr {SURNAMES[(i * 2 + n + 5) % len(SURNAMES)]} FRCS",
                            "specialties": [specialty], "organisation": "recognised_specialists",
                            "gmc_number": f"{6000000 + i * 10 + n}"})
    entries.append({"id": "NET-1", "kind": "network", "name": "Expert network triage",
                    "specialties": SPECIALTIES, "organisation": "medexpert"})
    return entries
