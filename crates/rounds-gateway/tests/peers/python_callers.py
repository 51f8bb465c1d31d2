"""Independent callers of the gateway (none of them ours): Authlib for the
OAuth 2.0 client credentials flow (client_secret_basic and
client_secret_post, and its reading of an RFC 6749 error), and fhirpy
reading patients through the gateway, paging across its rewritten `next`
links.

Usage: python_callers.py GATEWAY_URL CLIENT_ID CLIENT_SECRET TENANT FAMILY COUNT
Prints one JSON object with what it saw; exits non-zero when a check fails.
"""
import json
import sys

from authlib.integrations.requests_client import OAuth2Session, OAuthError
from fhirpy import SyncFHIRClient


def main() -> int:
    base, client_id, secret, tenant, family, count = sys.argv[1:7]
    count = int(count)
    token_url = f"{base}/token"
    report = {}

    # Authlib, client_secret_basic (its default).
    basic = OAuth2Session(client_id, secret, scope=f"system/*.read {tenant}")
    token = basic.fetch_token(token_url, grant_type="client_credentials")
    assert token["token_type"].lower() == "bearer", token
    assert token["expires_in"] > 0, token
    r = basic.get(f"{base}/Patient", params={"family": family, "_count": 50})
    assert r.status_code == 200, r.text
    report["basic_total"] = len(r.json().get("entry", []))

    # Authlib, client_secret_post.
    post = OAuth2Session(client_id, secret, scope=tenant, token_endpoint_auth_method="client_secret_post")
    post_token = post.fetch_token(token_url, grant_type="client_credentials")
    report["post_scope"] = post_token.get("scope")

    # Authlib reads the gateway's RFC 6749 errors.
    wrong = OAuth2Session(client_id, "rgw_wrong", scope=tenant)
    try:
        wrong.fetch_token(token_url, grant_type="client_credentials")
        report["wrong_secret"] = "accepted"
    except OAuthError as e:
        report["wrong_secret"] = e.error
    other = OAuth2Session(client_id, secret, scope="no-such-tenant")
    try:
        other.fetch_token(token_url, grant_type="client_credentials")
        report["bad_scope"] = "accepted"
    except OAuthError as e:
        report["bad_scope"] = e.error

    # fhirpy: two patients a page, following the rewritten next links.
    fhir = SyncFHIRClient(base, authorization=f"Bearer {token['access_token']}")
    patients = fhir.resources("Patient").search(family=family).limit(2).fetch_all()
    families = sorted({p["name"][0]["family"] for p in patients})
    report["fhirpy_count"] = len(patients)
    report["fhirpy_families"] = families
    first = fhir.reference("Patient", patients[0]["id"]).to_resource()
    report["fhirpy_read"] = first["id"] == patients[0]["id"]

    print(json.dumps(report))
    ok = (
        report["basic_total"] == count
        and report["fhirpy_count"] == count
        and families == [family]
        and report["fhirpy_read"]
        and report["wrong_secret"] == "invalid_client"
        and report["bad_scope"] == "invalid_scope"
        and report["post_scope"] == tenant
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
