"""compiler_options and run_options against the real api and worker: GET /languages lists each
language's allow-lists and commands, allowed options reach the compiler and the program (seen in
the output), refused ones get a 400 naming the option with nothing enqueued, and the worker
refuses a stored request whose options its own table does not allow. Also a byte-order-marked
source end to end. CR_API_VALGRIND=1 runs the api under valgrind."""
import base64
import json
import uuid

import pytest

from api_support import VALGRIND, Api
from support import build_images

PREFIX = "test:"


@pytest.fixture
def api(workdir, redis):
    """The api (under valgrind with CR_API_VALGRIND=1, like test_api's), its exit checked."""
    a = Api(workdir, redis)
    yield a
    code = a.stop()
    out = a.proc.output()
    assert code == 0, f"api exit {code}\n{out[-4000:]}"
    assert "Sanitizer" not in out and "runtime error" not in out, out[-4000:]
    if VALGRIND:
        assert "ERROR SUMMARY: 0 errors" in a.valgrind_report(), a.valgrind_report()[-4000:]


@pytest.fixture(scope="module", autouse=True)
def images():
    build_images("gcc", "java", "python")  # incremental: a no-op when they are up to date


@pytest.fixture
def worker(start_worker):
    w = start_worker()
    yield w
    code = w.stop()
    out = w.proc.output()
    assert code == 0, f"worker exit {code}\n{out[-4000:]}"
    assert "Sanitizer" not in out and "runtime error" not in out, out[-4000:]


def run(api, body):
    r = api.wait_result(api.submit(body), timeout=120)
    assert r["status"] == "SUCCESS", r
    return r["result"]


def test_languages_show_the_allow_lists_and_commands(api):
    status, body, _ = api.request("GET", "/languages")
    assert status == 200
    langs = {entry["id"]: entry for entry in body["languages"]}
    c, java, py = langs["c"], langs["java"], langs["python"]
    assert c["compile"][:7] == ["gcc", "-O2", "-std=gnu17", "-pipe", "-pthread", "-fopenmp",
                                "-march=native"]
    assert "{options}" in c["compile"] and c["compile"][-1] == "-lm"
    assert "-O[0-3sg]?" in c["compiler_options"] and c["run_options"] == []
    assert "-std=gnu++20" in langs["cpp"]["compile"]
    assert langs["rust"]["compile"][:3] == ["rustc", "--edition", "2021"]
    pair = ["--add-modules", "jdk\\.incubator\\.(vector|foreign)"]
    assert pair in java["compiler_options"] and pair in java["run_options"]
    assert py["compile"] is None and py["compiler_options"] == [] and "-O" in py["run_options"]


def test_allowed_options_take_effect(api, worker):
    """Every job submitted first, then waited for: the worker runs them side by side."""
    jobs = {
        "c -D": ({"language": "c", "compiler_options": ["-DNAME=\"from -D\"", "-DTIMES=3"],
                  "code": '#include <stdio.h>\nint main(void) {'
                          ' for (int i = 0; i < TIMES; i++) puts(NAME); }\n'},
                 "from -D\nfrom -D\nfrom -D\n"),
        "cpp -std": ({"language": "c++", "compiler_options": ["-std=c++17", "-O0"],
                      "code": "#include <cstdio>\nint main() { std::printf(\"%ld %d\\n\","
                              " __cplusplus, __STRICT_ANSI__); }\n"},
                     "201703 1\n"),
        "java both steps": ({"language": "java",
                             "compiler_options": ["--add-modules", "jdk.incubator.vector"],
                             "run_options": ["--add-modules=jdk.incubator.vector", "-ea",
                                             "-Dwho=vector api"],
                             "code": "import jdk.incubator.vector.IntVector;\n"
                                     "class Main { public static void main(String[] a) {"
                                     " assert a.length == 1;"
                                     " System.out.println(System.getProperty(\"who\") + \" \""
                                     " + IntVector.SPECIES_64.length() + \" \" + a[0]); } }",
                             "args": ["x"]},
                            "vector api 2 x\n"),
        "python -X": ({"language": "py", "run_options": ["-X", "utf8", "-B"],
                       "code": "import sys\nprint(sys.flags.utf8_mode, sys.flags.dont_write_bytecode,"
                               " sys.argv[1:])", "args": ["-O"]},
                      "1 1 ['-O']\n"),
    }
    ids = {name: api.submit(body) for name, (body, _) in jobs.items()}
    for name, (body, expected) in jobs.items():
        r = api.wait_result(ids[name], timeout=180)
        assert r["status"] == "SUCCESS", (name, r)
        assert r["result"]["verdict"] == "ok", (name, r)
        assert r["result"]["output"] == expected, (name, r["result"])
    # The assertion the -ea option enabled fires when it fails.
    body = dict(jobs["java both steps"][0], args=[])
    r = run(api, body)
    assert r["verdict"] == "runtime_error" and "AssertionError" in r["error"], r


C_HELLO = '#include <stdio.h>\nint main(void) { puts("hi"); }\n'


@pytest.mark.parametrize("fields,message", [
    ({"language": "c", "compiler_options": ["-fplugin=/workspace/p.so"]},
     "'compiler_options': '-fplugin=/workspace/p.so' is not allowed for c"),
    ({"language": "c", "compiler_options": ["-wrapper", "/bin/sh,-c,id"]}, "'-wrapper'"),
    ({"language": "c", "compiler_options": ["@/etc/passwd"]}, "'@/etc/passwd'"),
    ({"language": "c", "compiler_options": ["-B/workspace"]}, "'-B/workspace'"),
    ({"language": "c", "compiler_options": ["-specs=/workspace/s"]}, "'-specs=/workspace/s'"),
    ({"language": "c", "compiler_options": ["-o", "/tmp/x"]}, "'-o'"),
    ({"language": "c", "compiler_options": ["-x", "assembler"]}, "'-x'"),
    ({"language": "c", "compiler_options": ["-Wl,-T,/workspace/ld"]}, "'-Wl,-T,/workspace/ld'"),
    ({"language": "c", "compiler_options": ["-L/workspace"]}, "'-L/workspace'"),
    ({"language": "c", "compiler_options": ["-O2 -fplugin=x"]}, "'-O2 -fplugin=x'"),
    ({"language": "c", "compiler_options": ["-DX=a\nb"]}, "control character"),
    ({"language": "c", "compiler_options": ["-O2"] * 33}, "at most 32 options"),
    ({"language": "c", "compiler_options": ["-D" + "X" * 300]}, "1 to 256 bytes"),
    ({"language": "c", "compiler_options": "-O2"}, "must be an array of strings"),
    ({"language": "c", "run_options": ["-O2"]}, "'run_options': c takes none"),
    ({"language": "python", "compiler_options": ["-O"]}, "python has no compile step"),
    ({"language": "python", "run_options": ["-c", "print(1)"]}, "'-c' is not allowed"),
    ({"language": "java", "run_options": ["--add-modules"]}, "'--add-modules' needs a value"),
    ({"language": "java", "compiler_options": ["--add-modules", "java.se"]},
     "'java.se' is not an allowed value of '--add-modules'"),
    ({"language": "java", "compiler_options": ["-J-Xmx4g"]}, "'-J-Xmx4g'"),
    ({"language": "java", "compiler_options": ["-processorpath", "."]}, "'-processorpath'"),
    ({"language": "java", "run_options": ["-XX:OnError=sh"]}, "'-XX:OnError=sh'"),
    ({"language": "java", "run_options": ["-javaagent:a.jar"]}, "'-javaagent:a.jar'"),
    ({"language": "rust", "compiler_options": ["-C", "linker=/workspace/x"]},
     "'linker=/workspace/x' is not an allowed value of '-C'"),
    ({"language": "rust", "compiler_options": ["-Zunstable-options"]}, "'-Zunstable-options'"),
    ({"language": "go", "compiler_options": ["-toolexec=/bin/sh"]}, "'-toolexec=/bin/sh'"),
    ({"language": "go", "compiler_options": ["-ldflags=-X main.v=a -extld=/bin/sh"]},
     "'-ldflags=-X main.v=a -extld=/bin/sh'"),
    ({"language": "javascript", "run_options": ["--require=./x.js"]}, "'--require=./x.js'"),
])
def test_refused_options_400(api, redis, fields, message):
    body = {"code": C_HELLO, **fields}
    status, data, _ = api.request("POST", "/run-code", body=body)
    assert status == 400, (body, data)
    assert message in data["error"], data
    assert redis.cmd("LLEN", f"{PREFIX}queue") == 0


def test_worker_revalidates_stored_options(redis, api, worker):
    """A stored request the api would have refused (written straight into Redis) ends as a
    FAILURE naming the option: the worker checks options against its own table."""
    tid = str(uuid.uuid4())
    request = json.dumps({"language": "c", "code": C_HELLO,
                          "compiler_options": ["-fplugin=/workspace/p.so"]})
    redis.cmd("HSET", f"{PREFIX}task:{tid}", "status", "PENDING", "attempts", 0,
              "request", request)
    redis.cmd("LPUSH", f"{PREFIX}queue", tid)
    r = api.wait_result(tid, timeout=60)
    assert r["status"] == "FAILURE", r
    assert r["result"].startswith("invalid stored request")
    assert "'-fplugin=/workspace/p.so' is not allowed" in r["result"], r
    # The worker runs the next job normally.
    assert run(api, {"language": "c", "code": C_HELLO})["output"] == "hi\n"


def test_byte_order_mark_end_to_end(api, worker):
    code = "\ufeffpublic class Main { public static void main(String[] a) {" \
           " System.out.println(\"bom\"); } }"
    r = run(api, {"language": "java", "code": code})
    assert r["verdict"] == "ok" and r["output"] == "bom\n", r
    enc = base64.b64encode(("\ufeff" + 'print("bom64")').encode()).decode()
    r = run(api, {"language": "python", "code": enc, "base64": True})
    assert base64.b64decode(r["output"]) == b"bom64\n", r
    # A source that is nothing but marks is empty.
    status, data, _ = api.request("POST", "/run-code", body={"language": "c", "code": "\ufeff"})
    assert status == 400 and "'code' must not be empty" in data["error"], data
