"""GET /openapi.json and api/openapi.json against the real things: the document validates against
the official OpenAPI 3.1 JSON Schema (from the npm registry, tests/npm) with Debian's
python3-jsonschema; then every documented example request is sent to real api servers (a real
redis-server, and real workers where a result is needed, sessions included) and each answer must
have the documented status, headers and body schema, and match the documented example (for the
Prometheus text of GET /metrics: its help and type lines and its series), so the document cannot
drift from the code."""
import copy
import json
import os
import re
import tempfile
import urllib.parse

import jsonschema
import pytest

import harness
import npm_tools
from session_support import Client

DOC_PATH = os.path.join(harness.SOURCE_DIR, "api", "openapi.json")
with open(DOC_PATH, encoding="utf-8") as _f:
    DOC = json.load(_f)

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Fields whose values differ from run to run (ids, timings, versions read from the images).
VOLATILE = {"task_id", "time_ms", "wall_ms", "memory_kb", "version", "session_id", "container_id",
            "created_at", "last_execution", "execution_time"}


def oas31_schema():
    r = npm_tools.run_node("oas31-schema.js")
    assert r.returncode == 0, r.stderr
    schema = json.loads(r.stdout)
    assert schema["$id"].startswith("https://spec.openapis.org/oas/3.1/schema/"), schema["$id"]
    return schema


def validator(schema):
    """A 2020-12 validator for a schema inside DOC, its #/components refs resolved in DOC."""
    resolver = jsonschema.RefResolver(base_uri="", referrer=DOC)
    return jsonschema.Draft202012Validator(schema, resolver=resolver,
                                           format_checker=jsonschema.FormatChecker())


def errors_of(schema, value):
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator(schema).iter_errors(value)]


def operations():
    for path, item in DOC["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def media_type(obj):
    """The media type of a request body or response: JSON, the Prometheus text of GET /metrics,
    or the raw bytes of a session's file (application/octet-stream)."""
    (kind,) = obj["content"]
    return kind


def media(obj):
    return obj["content"][media_type(obj)]


def series_lines(text):
    """The samples of a Prometheus text exposition: {series (name and labels): value}."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            out[series] = float(value)
    return out


def text_differences(example, real):
    """Differences between a documented exposition and the real one: each comment line (# HELP,
    # TYPE) of the example must be in the real text as it is, each series of the example must be
    there (values differ from run to run), and the real text must parse as samples."""
    lines = set(real.splitlines())
    out = [f"missing line {l!r}" for l in example.splitlines() if l.startswith("#") and l not in lines]
    try:
        have = series_lines(real)
    except ValueError:
        return out + ["the real answer is not an exposition"]
    return out + [f"missing series {s}" for s in series_lines(example) if s not in have]


def response_examples(op):
    """(status, response object, example name, example) for every response example of op."""
    for status, resp in op["responses"].items():
        for name, ex in media(resp).get("examples", {}).items():
            yield int(status), resp, name, ex


def request_example_names(op):
    names = set()
    if "requestBody" in op:
        names |= set(media(op["requestBody"]).get("examples", {}))
    for p in op.get("parameters", []):
        names |= set(p.get("examples", {}))
    return names


# ---- the document itself ----

def test_document_is_valid_openapi_3_1():
    schema = oas31_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(DOC))
    assert not errors, [f"{e.json_path}: {e.message}" for e in errors]
    for name, s in DOC["components"]["schemas"].items():
        jsonschema.Draft202012Validator.check_schema(s)  # each Schema Object is valid 2020-12


@pytest.mark.parametrize("breakage", ["unknown field", "missing title", "bad parameter location",
                                      "bad status key"])
def test_meta_schema_rejects_broken_documents(breakage):
    """The validation above can fail: documents broken on purpose are refused."""
    schema = oas31_schema()
    doc = copy.deepcopy(DOC)
    op = doc["paths"]["/health"]["get"]
    if breakage == "unknown field":
        op["responses"]["200"]["bogus"] = 1
    elif breakage == "missing title":
        del doc["info"]["title"]
    elif breakage == "bad parameter location":
        op["parameters"] = [{"name": "x", "in": "body", "schema": {"type": "string"}}]
    else:
        op["responses"]["20x"] = op["responses"]["200"]
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(doc))


def test_every_route_documented():
    """The routes the api matches (api/route_parse.c) are the documented paths."""
    with open(os.path.join(harness.SOURCE_DIR, "api", "route_parse.c")) as f:
        src = f.read()
    routes = set(re.findall(r'strn?cmp\(path, "([^"]+)"', src))
    documented = {p.split("{")[0] for p in DOC["paths"]}
    assert routes == documented


def test_examples_match_their_schemas():
    """Every response example fits its response schema, and every request example that the
    server accepts (its response is 2xx) fits the request schema."""
    for path, method, op in operations():
        accepted = {name for status, _, name, _ in response_examples(op) if status < 300}
        for status, resp, name, ex in response_examples(op):
            assert not errors_of(media(resp)["schema"], ex["value"]), (path, status, name)
        if "requestBody" in op:
            body = media(op["requestBody"])
            for name, ex in body["examples"].items():
                if name in accepted:
                    assert not errors_of(body["schema"], ex["value"]), (path, name)
        for p in op.get("parameters", []):
            for name, ex in p.get("examples", {}).items():
                if name in accepted:
                    assert not errors_of(p["schema"], ex["value"]), (path, p["name"], name)


def test_validation_catches_a_drifted_answer():
    """The response checks below can fail: a result with an undocumented field, a missing one,
    or a wrong type is refused by the documented schema."""
    schema = media(DOC["paths"]["/results/{task_id}"]["get"]["responses"]["200"])["schema"]
    good = media(DOC["paths"]["/results/{task_id}"]["get"]["responses"]["200"])[
        "examples"]["success"]["value"]
    assert not errors_of(schema, good)
    extra = copy.deepcopy(good)
    extra["result"]["cpu_seconds"] = 1
    missing = copy.deepcopy(good)
    del missing["result"]["verdict"]
    wrong = copy.deepcopy(good)
    wrong["result"]["exit_code"] = "0"
    with_id = dict(good, task_id="0b7e5c1e-4f1c-4b55-9a43-5b3f3d8a9e10")  # only POST ?wait has it
    for bad in (extra, missing, wrong, with_id):
        assert errors_of(schema, bad)


def test_text_check_catches_a_drifted_exposition():
    """The check of GET /metrics can fail: a renamed series, a changed help text or a text that
    is not an exposition is refused; other numbers are not a difference."""
    example = media(DOC["paths"]["/metrics"]["get"]["responses"]["200"])["examples"]["scrape"]
    text = example["value"]
    assert not text_differences(text, text)
    assert not text_differences(text, text.replace(" 1\n", " 7\n") + "code_runner_x 1\n")
    assert text_differences(text, text.replace('route="/run-code"', 'route="/run"'))
    assert text_differences(text, text.replace("# HELP code_runner_queue_jobs Jobs", "# HELP "
                                               "code_runner_queue_jobs The jobs"))
    assert text_differences(text, "not an exposition")


# ---- every example against real servers ----

class Servers:
    """The api servers the examples need, on one real redis-server: the main one with a worker;
    one without a worker whose queue holds one job (MAX_QUEUE_LENGTH=1); one with API_KEYS; one
    with MAX_BODY_BYTES=1024; one whose worker has no images (its jobs end as FAILURE); one whose
    Redis is down, and one more with remote workers (EXECUTOR=remote: GET /languages needs
    Redis)."""

    def __init__(self, workdir, start_api, start_worker):
        self.main = start_api()
        start_worker(WORKER_CONCURRENCY=2)
        self.idle = start_api(REDIS_PREFIX="idle:", MAX_QUEUE_LENGTH=1)
        self.keyed = start_api(API_KEYS="key-one")
        self.small = start_api(MAX_BODY_BYTES=1024)
        self.broken = start_api(REDIS_PREFIX="broken:")
        self.no_images = tempfile.mkdtemp(prefix="no-images-", dir=workdir)
        start_worker(REDIS_PREFIX="broken:", IMAGES_DIR=self.no_images, WORKER_CONCURRENCY=1)
        self.down = start_api(REDIS_URL=f"redis://127.0.0.1:{harness.free_port()}/0")
        self.down_remote = start_api(REDIS_URL=f"redis://127.0.0.1:{harness.free_port()}/0",
                                     EXECUTOR="remote")
        self.pending_id = self.idle.submit({"language": "python", "code": "print(1)"})
        submit = media(DOC["paths"]["/run-code"]["post"]["requestBody"])["examples"]["submit"]
        self.done_id = self.main.submit(submit["value"])
        self.failed_id = self.broken.submit({"language": "python", "code": "print(1)"})
        self.sessions = self.make_sessions(Client(self.main))

    @staticmethod
    def make_sessions(s):
        """The sessions the session examples act on, by example name: a ready one, a stopped
        one, one to delete, and one whose workspace holds what the file examples show."""
        harness.wait_until(lambda: s.api.request("POST", "/api/v1/sessions",
                                                 {"environment": "python"})[0] == 200,
                           timeout=20, what="the worker processes to offer their places")
        ready, stopped, doomed, files = (s.create("python") for _ in range(4))
        s.delete(stopped)
        s.wait_status(stopped, {"stopped"})
        s.put(files, "data/notes.txt", b"hello from the workspace\n")
        s.ok(files, "import os\nos.symlink('/etc/passwd', 'link')  # a link the file routes refuse")
        by_name = {}
        for names, sid in ((("get", "execute", "execute-async", "execute-bad"), ready),
                           (("get-stopped", "delete-stopped", "execute-stopped"), stopped),
                           (("delete",), doomed),
                           (("list-files", "get-file", "get-missing", "get-link", "get-bad-path",
                             "put-file", "put-bad-path"), files)):
            by_name.update({n: sid for n in names})
        return by_name

    def server(self, name):
        return {"unauthorized": self.keyed, "too-large": self.small, "queue-full": self.idle,
                "pending": self.idle, "wait-pending": self.idle, "failure": self.broken,
                "redis-down": self.down, "no-place": self.idle,
                "remote-redis-down": self.down_remote}.get(name, self.main)

    def task_id(self, name, documented):
        return {"success": self.done_id, "pending": self.pending_id,
                "wait-pending": self.pending_id, "failure": self.failed_id}.get(name, documented)

    def path_param(self, param, name, documented):
        if param == "task_id":
            return self.task_id(name, documented)
        if param == "session_id":
            return self.sessions.get(name, documented)
        return documented


def matches(example, real, path=""):
    """Differences between a documented example value and the real body: every key of the
    example has the real value (VOLATILE keys need only exist); arrays compare element by element
    over the example's length."""
    if isinstance(example, dict):
        if not isinstance(real, dict):
            return [f"{path}: {real!r} is not an object"]
        out = []
        for k, v in example.items():
            if k not in real:
                out.append(f"{path}/{k}: missing")
            elif k not in VOLATILE:
                out += matches(v, real[k], f"{path}/{k}")
        return out
    if isinstance(example, list):
        if not isinstance(real, list) or len(real) < len(example):
            return [f"{path}: {real!r} is shorter than the example"]
        return [d for i, v in enumerate(example) for d in matches(v, real[i], f"{path}/{i}")]
    return [] if example == real else [f"{path}: documented {example!r}, got {real!r}"]


def build_request(path, op, name, servers):
    """The method-less request of example name: (server, path with query, body or None)."""
    query, url = {}, path
    for p in op.get("parameters", []):
        ex = p.get("examples", {}).get(name)
        if p["in"] == "path":
            value = servers.path_param(p["name"], name, ex["value"] if ex else None)
            assert value, f"{path}: no {p['name']} for example {name}"
            url = url.replace("{" + p["name"] + "}", value)
        elif ex:
            query[p["name"]] = ex["value"]
    if query:
        url += "?" + urllib.parse.urlencode(query)
    body = None
    if "requestBody" in op:
        examples = media(op["requestBody"])["examples"]
        assert name in examples, f"{path}: response example {name} has no request example"
        body = examples[name]["value"]
    return servers.server(name), url, body


def check_answer(where, resp, example, status, real_status, data, headers):
    assert real_status == status, (where, real_status, data)
    assert headers.get("Content-Type") == media_type(resp), (where, headers)
    errors = errors_of(media(resp)["schema"], data)
    assert not errors, (where, errors, data)
    for h, spec in resp.get("headers", {}).items():
        hs = DOC["components"]["headers"][spec["$ref"].rsplit("/", 1)[1]]
        assert h in headers, (where, f"header {h} missing", headers)
        v = int(headers[h]) if hs["schema"]["type"] == "integer" else headers[h]
        assert not errors_of(hs["schema"], v), (where, h, headers[h])
    if media_type(resp).startswith("text/plain"):  # GET /metrics: numbers change from run to run
        diffs = text_differences(example["value"], data)
    else:
        diffs = matches(example["value"], data)
    assert not diffs, (where, diffs)


def test_every_example_against_the_server(workdir, redis, start_api, start_worker):
    servers = Servers(workdir, start_api, start_worker)
    driven = []
    # queue-full and the redis-down answers last: nothing else depends on them
    order = sorted(((p, m, op, s, r, n, e) for p, m, op in operations()
                    for s, r, n, e in response_examples(op)),
                   key=lambda t: t[5] in ("queue-full", "redis-down", "remote-redis-down"))
    for path, method, op, status, resp, name, example in order:
        where = f"{method.upper()} {path} example {name!r} ({status})"
        server, url, body = build_request(path, op, name, servers)
        real_status, data, headers = server.request(method.upper(), url, body)
        if name == "failure":
            # The message names the worker's IMAGES_DIR: compare up to it.
            assert data["result"].startswith(
                "sandbox preparation failed: image python is not built ("), (where, data)
            assert servers.no_images in data["result"], (where, data)
            example = {"value": dict(example["value"], result=data["result"])}
        if path == "/openapi.json":
            assert data == DOC, "GET /openapi.json is not api/openapi.json"
        check_answer(where, resp, example, status, real_status, data, headers)
        driven.append(name)
    # Every request example was driven through some response example.
    for path, method, op in operations():
        for name in request_example_names(op):
            assert name in driven, f"{method.upper()} {path}: request example {name} has no answer"


def test_generic_404_and_405(api):
    """The answers that no operation lists: an undocumented path is 404, an undocumented method
    405 with Allow naming exactly the documented methods (GET implies HEAD)."""
    nf = DOC["components"]["responses"]["NotFound"]
    status, data, headers = api.request("GET", "/no-such-route")
    check_answer("GET /no-such-route", nf, media(nf)["examples"]["no-route"], 404, status, data,
                 headers)
    mna = DOC["components"]["responses"]["MethodNotAllowed"]
    for path, item in DOC["paths"].items():
        url = (path.replace("{task_id}", "00000000-0000-4000-8000-000000000000")
               .replace("{session_id}", "00000000-0000-4000-8000-000000000000")
               .replace("{path}", "x"))
        documented = {m.upper() for m in METHODS if m in item}
        if "GET" in documented:
            documented.add("HEAD")
        for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
            if method in documented:
                continue
            status, data, headers = api.request(method, url, "{}")
            where = f"{method} {path}"
            check_answer(where, mna, media(mna)["examples"]["wrong-method"], 405, status, data,
                         headers)
            assert set(headers["Allow"].split(", ")) == documented, (where, headers["Allow"])


def test_openapi_needs_no_key_and_health_neither(start_api):
    """As documented: security [] on /openapi.json and /health, the bearer key elsewhere."""
    api = start_api(API_KEYS="key-one")
    for path, method, op in operations():
        if method != "get" or "{" in path:
            continue
        status, _, _ = api.request("GET", path)
        public = op.get("security", DOC["security"]) == []
        assert (status != 401) == public, (path, status)
        if not public:
            status, _, _ = api.request("GET", path, headers={"Authorization": "Bearer key-one"})
            assert status == 200, (path, status)
