"""MSAL for Python against the twin: device code flow, then a refresh. Prints JSON lines, never a token.

argv: authority client_id scope. The CA is given by REQUESTS_CA_BUNDLE (it overrides verify=).
Line 1: {"user_code": ...}; line 2: the result of acquire_token_by_device_flow; line 3: the refresh result.
"""
import json
import sys

import msal

authority, client_id, scope = sys.argv[1], sys.argv[2], sys.argv[3]
app = msal.PublicClientApplication(client_id, authority=authority, instance_discovery=False)
flow = app.initiate_device_flow(scopes=[scope])
if "user_code" not in flow:
    print(json.dumps({"error": flow.get("error"), "error_description": flow.get("error_description")}), flush=True)
    sys.exit(1)
print(json.dumps({"user_code": flow["user_code"], "message": flow["message"], "interval": flow.get("interval")}), flush=True)

result = app.acquire_token_by_device_flow(flow)
claims = result.get("id_token_claims") or {}
print(json.dumps({
    "has_access_token": bool(result.get("access_token")),
    "has_refresh_token": bool(result.get("refresh_token")),
    "scope": result.get("scope"),
    "preferred_username": claims.get("preferred_username"),
    "error": result.get("error"),
    "error_description": (result.get("error_description") or "")[:200],
}), flush=True)

accounts = app.get_accounts()
again = app.acquire_token_silent_with_error([scope], account=accounts[0], force_refresh=True) if accounts else None
print(json.dumps({
    "accounts": [a.get("username") for a in accounts],
    "refreshed": bool(again and again.get("access_token")),
    "error": (again or {}).get("error"),
}), flush=True)
