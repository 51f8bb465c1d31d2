"""The naive baseline: what a typical SMART app does, with fhirpy.

For each patient, one request at a time: read the Patient, then each
section's search. Prints "N<TAB>fhirpy sequential<TAB>ms" of one run.

    python naive_fhirpy.py BASE IDS_FILE N
"""
import sys
import time

from fhirpy import SyncFHIRClient


def summary(client, pid):
    patient = client.reference("Patient", pid).to_resource()
    vitals = (client.resources("Observation")
              .search(patient=pid, category="vital-signs").sort("-date").limit(50).fetch())
    conditions = client.resources("Condition").search(patient=pid).limit(50).fetch()
    encounter = client.resources("Encounter").search(patient=pid).sort("-date").limit(1).fetch()
    allergies = client.resources("AllergyIntolerance").search(patient=pid).limit(50).fetch()
    meds = client.resources("MedicationRequest").search(patient=pid).limit(50).fetch()
    coverage = client.resources("Coverage").search(beneficiary=pid).limit(50).fetch()
    if len(vitals) != 6 or len(conditions) != 2 or not coverage:
        raise SystemExit(f"incomplete summary for {pid}")
    return patient, vitals, conditions, encounter, allergies, meds, coverage


def main():
    base, ids_file, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(ids_file) as f:
        ids = [line.strip() for line in f if line.strip()][:n]
    client = SyncFHIRClient(base)
    t = time.perf_counter()
    for pid in ids:
        summary(client, pid)
    print(f"{n}\tfhirpy sequential\t{(time.perf_counter() - t) * 1000:.0f}")


main()
