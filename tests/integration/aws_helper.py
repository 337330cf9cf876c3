"""A helper the EC2 tests run under the Python that has moto and botocore (not the one pytest
runs under): AWS calls made by botocore, AWS's own client library, to set up and inspect the moto
server as a user of EC2 would; and botocore's SigV4 signature of a request the worker sent, to
check the worker's against it. One JSON request per line on stdin, one JSON answer per line on
stdout: {"ok": result} or {"error": "..."}.

  {"op": "call", "endpoint", "region", "creds": {"key", "secret", "token"?}, "service",
   "method" (botocore's snake_case name), "params": {...}}
  {"op": "sign", "region", "service", "creds", "method", "url", "headers": {...}, "body"}
      -> {"signature", "canonical_request"} over the headers the request signed, at its
         X-Amz-Date"""
import json
import sys

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

SESSION = botocore.session.get_session()
CLIENTS = {}


def client(req):
    c = req["creds"]
    key = (req["service"], req["endpoint"], req["region"], c["key"], c["secret"], c.get("token"))
    if key not in CLIENTS:
        CLIENTS[key] = SESSION.create_client(
            req["service"], endpoint_url=req["endpoint"], region_name=req["region"],
            aws_access_key_id=c["key"], aws_secret_access_key=c["secret"],
            aws_session_token=c.get("token"))
    return CLIENTS[key]


def sign(req):
    c = req["creds"]
    creds = Credentials(c["key"], c["secret"], c.get("token"))
    headers = req["headers"]
    signed = headers["Authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    kept = {k: v for k, v in headers.items() if k.lower() in signed}
    r = AWSRequest(method=req["method"], url=req["url"], data=req["body"].encode(), headers=kept)
    r.context["timestamp"] = headers["X-Amz-Date"]
    auth = SigV4Auth(creds, req["service"], req["region"])
    canonical = auth.canonical_request(r)
    return {"signature": auth.signature(auth.string_to_sign(r, canonical), r),
            "canonical_request": canonical}


def main():
    for line in sys.stdin:
        req = json.loads(line)
        try:
            if req["op"] == "call":
                out = getattr(client(req), req["method"])(**req.get("params", {}))
                out.pop("ResponseMetadata", None)
            elif req["op"] == "sign":
                out = sign(req)
            else:
                raise ValueError(f"unknown op {req['op']}")
            answer = {"ok": out}
        except Exception as e:  # the test reports it
            answer = {"error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(answer, default=str) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
