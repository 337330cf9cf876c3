"""Every language of images/languages.json for real, through tests/tools/sandbox_cli and the oci
executor (its default runtime, builtin; OCI_RUNTIME=runc for another): hello world, stdin,
runtime and compile errors, test cases, time and memory limits, extra files, aliases, the
language's environment, Java class names (public or not, the class declaring main), threads,
goroutines and OpenMP, SIMD in every compiled language, byte-order marks, Rust's edition,
compiler_options and run_options taking effect, and the versions the images report. After every
case nothing is left behind. Needs root (and the runtime chosen); builds the images with
images/build.sh (incremental) before the tests."""

import base64
import json
import math
import os
import shutil

import pytest

from support import CLI, IMAGES_DIR, RUNTIME, Sandbox, build_images, languages

# Nothing here is skipped: without root or the runtime these tests fail and say why.
assert os.geteuid() == 0, "the oci sandbox needs root"
assert RUNTIME == "builtin" or shutil.which(RUNTIME), \
    f"{RUNTIME} is not installed (deploy/install-deps.sh installs it)"

LANGS = ["python", "python-ml", "javascript", "java", "c", "cpp", "rust", "go"]
COMPILED = ["java", "c", "cpp", "rust", "go"]

HELLO = {
    "python": 'print("hello, world")',
    "python-ml": 'print("hello, world")',
    "javascript": 'console.log("hello, world")',
    "java": 'public class Main {\n  public static void main(String[] a) {\n'
            '    System.out.println("hello, world");\n  }\n}\n',
    "c": '#include <stdio.h>\nint main(void) { puts("hello, world"); return 0; }\n',
    "cpp": '#include <iostream>\nint main() { std::cout << "hello, world\\n"; }\n',
    "rust": 'fn main() { println!("hello, world"); }\n',
    "go": 'package main\nimport "fmt"\nfunc main() { fmt.Println("hello, world") }\n',
}

# Reads two integers from stdin, prints their sum.
SUM = {
    "python": "a, b = map(int, input().split())\nprint(a + b)",
    "python-ml": "import numpy as np\nprint(int(np.array(input().split(), dtype=int).sum()))",
    "javascript": 'const [a, b] = require("fs").readFileSync(0, "utf8").trim().split(/\\s+/)'
                  '.map(Number);\nconsole.log(a + b);',
    "java": "import java.util.*;\npublic class Main {\n  public static void main(String[] x) {\n"
            "    Scanner s = new Scanner(System.in);\n"
            "    System.out.println(s.nextLong() + s.nextLong());\n  }\n}\n",
    "c": '#include <stdio.h>\nint main(void) { long a, b; if (scanf("%ld %ld", &a, &b) != 2)'
         ' return 1; printf("%ld\\n", a + b); return 0; }\n',
    "cpp": "#include <iostream>\nint main() { long a, b; std::cin >> a >> b;"
           " std::cout << a + b << std::endl; }\n",
    "rust": "use std::io::Read;\nfn main() { let mut s = String::new();"
            " std::io::stdin().read_to_string(&mut s).unwrap();\n"
            "  let v: Vec<i64> = s.split_whitespace().map(|x| x.parse().unwrap()).collect();\n"
            '  println!("{}", v[0] + v[1]); }\n',
    "go": 'package main\nimport "fmt"\nfunc main() { var a, b int64; fmt.Scan(&a, &b);'
          " fmt.Println(a + b) }\n",
}

# (code, exit code, signal, text the error output holds)
CRASH = {
    "python": ('print("before")\nraise ValueError("boom")', 1, None, "ValueError: boom"),
    "python-ml": ('import numpy\nprint("before")\nraise ValueError("boom")', 1, None,
                  "ValueError: boom"),
    "javascript": ('console.log("before");\nthrow new Error("boom");', 1, None, "Error: boom"),
    "java": ('public class Main {\n  public static void main(String[] a) {\n'
             '    System.out.println("before");\n    throw new IllegalStateException("boom");\n'
             "  }\n}\n", 1, None, "IllegalStateException: boom"),
    "c": ('#include <stdio.h>\nint main(void) { puts("before"); fflush(stdout);'
          ' fprintf(stderr, "boom\\n"); return 3; }\n', 3, None, "boom"),
    "cpp": ('#include <iostream>\n#include <stdexcept>\nint main() {'
            ' std::cout << "before" << std::endl; throw std::runtime_error("boom"); }\n',
            128 + 6, "SIGABRT", "boom"),
    "rust": ('fn main() { println!("before"); panic!("boom"); }\n', 101, None, "boom"),
    "go": ('package main\nimport "fmt"\nfunc main() { fmt.Println("before"); panic("boom") }\n',
           2, None, "panic: boom"),
}

COMPILE_ERROR = {
    "java": "public class Main { public static void main(String[] a) { int x = ; } }",
    "c": "int main(void) { return undefined_name; }",
    "cpp": "int main() { std::vector<int> v; }",
    "rust": 'fn main() { let x: i32 = "text"; }',
    "go": "package main\nfunc main() { x := 1 }\n",
}

LOOP = {
    "python": "while True: pass",
    "python-ml": "while True: pass",
    "javascript": "for (;;) {}",
    "java": "public class Main { public static void main(String[] a) { long i = 0;"
            " while (true) i++; } }",
    "c": "int main(void) { volatile long i = 0; for (;;) i++; }",
    "cpp": "int main() { volatile long i = 0; for (;;) i++; }",
    "rust": "fn main() { let mut i: u64 = 0; loop { unsafe {"
            " std::ptr::write_volatile(&mut i, i.wrapping_add(1)); } } }",
    "go": "package main\nfunc main() { i := 0; for { i++ } }\n",
}

# Allocates and touches memory until it is stopped.
MEMORY_HOG = {
    "python": 'a = []\nwhile True: a.append(b"x" * (1 << 20))',
    "python-ml": "import numpy as np\na = []\nwhile True: a.append(np.ones(1 << 17))",
    "javascript": "const a = [];\nfor (;;) a.push(new Array(100000).fill(1.5));",
    "java": "import java.util.*;\npublic class Main { public static void main(String[] x) {"
            " List<long[]> l = new ArrayList<>(); while (true) { long[] b = new long[1 << 17];"
            " Arrays.fill(b, 1); l.add(b); } } }",
    "c": "#include <stdlib.h>\n#include <string.h>\nint main(void) { for (;;) {"
         " char *p = malloc(1 << 20); if (p) memset(p, 1, 1 << 20); } }\n",
    "cpp": "#include <vector>\nint main() { std::vector<std::vector<char>> v;"
           " for (;;) v.emplace_back(1 << 20, 1); }\n",
    "rust": "fn main() { let mut v = Vec::new(); loop { v.push(vec![1u8; 1 << 20]); } }\n",
    "go": "package main\nfunc main() { var s [][]byte\n for { b := make([]byte, 1<<20);"
          " for i := range b { b[i] = 1 }; s = append(s, b) } }\n",
}

# An extra file beside the main source: (main code, extra file name, extra file content).
FILES = {
    "python": ("from util import greet\nprint(greet('x'))", "util.py",
               "def greet(s):\n    return 'hi ' + s\n"),
    "python-ml": ("from util import greet\nprint(greet('x'))", "util.py",
                  "import numpy\ndef greet(s):\n    return 'hi ' + s\n"),
    "javascript": ("const { greet } = require('./util.js');\nconsole.log(greet('x'));",
                   "util.js", "module.exports = { greet: (s) => 'hi ' + s };\n"),
    "java": ("public class Main { public static void main(String[] a) {"
             ' System.out.println(Helper.greet("x")); } }', "Helper.java",
             'class Helper { static String greet(String s) { return "hi " + s; } }\n'),
    "c": ('#include <stdio.h>\n#include "util.h"\nint main(void) { puts(greet()); return 0; }\n',
          "util.h", 'static inline const char *greet(void) { return "hi x"; }\n'),
    "cpp": ('#include <iostream>\n#include "util.hpp"\nint main() {'
            ' std::cout << greet("x") << "\\n"; }\n', "util.hpp",
            '#include <string>\ninline std::string greet(const std::string &s)'
            ' { return "hi " + s; }\n'),
    "rust": ('mod util;\nfn main() { println!("{}", util::greet("x")); }\n', "util.rs",
             'pub fn greet(s: &str) -> String { format!("hi {}", s) }\n'),
    "go": ('package main\nimport "fmt"\nfunc main() { fmt.Println(greet("x")) }\n', "util.go",
           'package main\nfunc greet(s string) string { return "hi " + s }\n'),
}

# Prints the process environment, one NAME=value a line.
PRINT_ENV = {
    "python-ml": "import os\nfor k, v in os.environ.items(): print(f'{k}={v}')",
    "go": 'package main\nimport ("fmt"; "os")\nfunc main() {'
          " for _, e := range os.Environ() { fmt.Println(e) } }\n",
}


@pytest.fixture(scope="session", autouse=True)
def images():
    if not CLI.exists():
        pytest.fail(f"{CLI} not built")
    build_images()  # every image; a no-op when they are up to date


@pytest.fixture
def sandbox(tmp_path):
    made = []

    def make(language, **kw):
        s = Sandbox(tmp_path / f"s{len(made)}", language, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.assert_clean()


@pytest.mark.parametrize("lang", LANGS)
def test_hello_world(sandbox, lang):
    r = sandbox(lang).run(HELLO[lang])
    assert r["verdict"] == "ok", r
    assert r["output"] == "hello, world\n"
    assert r["error"] == "" and r["exit_code"] == 0 and r["signal"] is None
    assert (r["compile_output"] is not None) == (lang in COMPILED)
    assert r["wall_ms"] > 0 and r["memory_kb"] > 0


@pytest.mark.parametrize("lang", LANGS)
def test_stdin(sandbox, lang):
    r = sandbox(lang).run(SUM[lang], stdin="40 2\n")
    assert r["verdict"] == "ok", r
    assert r["output"] == "42\n"


@pytest.mark.parametrize("lang", LANGS)
def test_runtime_error(sandbox, lang):
    code, exit_code, sig, text = CRASH[lang]
    r = sandbox(lang).run(code)
    assert r["verdict"] == "runtime_error", r
    assert r["exit_code"] == exit_code and r["signal"] == sig
    assert r["output"] == "before\n"
    assert text in r["error"]


@pytest.mark.parametrize("lang", COMPILED)
def test_compile_error(sandbox, lang):
    r = sandbox(lang).run(COMPILE_ERROR[lang], stdin="never read")
    assert r["verdict"] == "compile_error", r
    assert r["compile_output"].strip() != ""
    assert "main" in r["compile_output"].lower()  # the message names the source file
    assert r["exit_code"] != 0
    assert r["output"] == "" and r["error"] == ""  # the run step was skipped


@pytest.mark.parametrize("lang", LANGS)
def test_tests_accepted_and_wrong_answer(sandbox, lang):
    tests = [{"stdin": "1 2\n", "expected_output": "3\n"},
             {"stdin": "2 2\n", "expected_output": "5\n"}]
    r = sandbox(lang).run(SUM[lang], tests=tests)
    assert [t["verdict"] for t in r["tests"]] == ["accepted", "wrong_answer"], r
    assert [t["output"] for t in r["tests"]] == ["3\n", "4\n"]
    assert r["summary"] == {"passed": 1, "total": 2}
    assert r["verdict"] == "wrong_answer" and r["output"] == "4\n"


@pytest.mark.parametrize("lang", LANGS)
def test_time_limit(sandbox, lang):
    r = sandbox(lang).run(LOOP[lang], timeout=1)
    assert r["verdict"] == "time_limit", r
    assert r["signal"] == "SIGKILL"
    assert 1000 <= r["wall_ms"] <= 2500


@pytest.mark.parametrize("lang", LANGS)
def test_memory_limit(sandbox, lang):
    r = sandbox(lang).run(MEMORY_HOG[lang])
    assert r["verdict"] == "memory_limit", {k: r[k] for k in r if k != "error"}
    assert r["signal"] == "SIGKILL"
    limit_mb = languages()[lang]["limits"]["run"]["memory_mb"]
    assert r["memory_kb"] >= limit_mb * 1024 * 9 // 10


@pytest.mark.parametrize("lang", LANGS)
def test_extra_files(sandbox, lang):
    code, name, content = FILES[lang]
    r = sandbox(lang).run(code, files=[{"name": name, "content": content}])
    assert r["verdict"] == "ok", r
    assert r["output"] == "hi x\n"


@pytest.mark.parametrize("alias,lang", [("py", "python"), ("js", "javascript"),
                                        ("node", "javascript"), ("c++", "cpp"),
                                        ("golang", "go"), ("PY", "python")])
def test_alias(sandbox, alias, lang):
    r = sandbox(alias).run(HELLO[lang])
    assert r["verdict"] == "ok", r
    assert r["output"] == "hello, world\n"


@pytest.mark.parametrize("lang", sorted(PRINT_ENV))
def test_language_env(sandbox, lang):
    env = languages()[lang]["env"]
    assert env
    r = sandbox(lang).run(PRINT_ENV[lang])
    seen = dict(line.split("=", 1) for line in r["output"].splitlines())
    for name, value in env.items():
        assert seen.get(name) == value, (name, seen)
    assert seen["PATH"].startswith("/usr/local/sbin:")  # the defaults stay
    assert list(seen).count("HOME") == 1


def test_go_cache_and_openblas_threads(sandbox):
    r = sandbox("go").run('package main\nimport ("fmt"; "os")\nfunc main() {'
                          ' fmt.Println(os.Getenv("GOCACHE")) }\n')
    assert r["output"] == "/tmp/go-cache\n"
    r = sandbox("python-ml").run(
        "import numpy, threadpoolctl\n"
        "print({i['internal_api']: i['num_threads'] for i in threadpoolctl.threadpool_info()})")
    assert r["verdict"] == "ok", r
    assert r["output"].strip() == "{'openblas': 1}"


JAVA_SOLUTION = """import java.util.*;
// public class Main is not what this file declares; "public class Wrong" is a string.
/* public class Wrong2 {} */
class Helper { static final String S = "public class Wrong {"; static char c = '{'; }
public final class Solution {
    public static void main(String[] args) {
        Scanner in = new Scanner(System.in);
        System.out.println(in.nextInt() * 2 + " " + String.join(",", args) + Helper.S.length());
    }
}
"""


def test_java_public_class_solution(sandbox):
    r = sandbox("java").run(JAVA_SOLUTION, stdin="21", args=["a", "Main", "Main.java"])
    assert r["verdict"] == "ok", r
    assert r["output"] == "42 a,Main,Main.java20\n"  # the program's own args are not renamed
    tests = [{"stdin": "1", "expected_output": "2 20"}, {"stdin": "2", "expected_output": "5 20"}]
    r = sandbox("java").run(JAVA_SOLUTION, tests=tests)
    assert r["summary"] == {"passed": 1, "total": 2}


def test_java_public_class_compile_error_names_the_class(sandbox):
    r = sandbox("java").run("public class Solution { void f() { int x = ; } }")
    assert r["verdict"] == "compile_error"
    assert "Solution.java" in r["compile_output"]


def test_java_non_public_main(sandbox):
    r = sandbox("java").run('class Main { public static void main(String[] a) {'
                            ' System.out.println("ok"); } }')
    assert r["verdict"] == "ok", r
    assert r["output"] == "ok\n"


def test_java_no_main_class_is_a_clear_error(sandbox):
    r = sandbox("java").run("class Other { static void f() {} }\nclass Main { void main() {} }")
    assert r["verdict"] == "runtime_error"
    assert "Main" in r["error"] and "main method" in r["error"]


def test_java_main_class_not_public(sandbox):
    """A final, package-private class holding main runs, whatever its name; the class that
    only mentions main in a nested class, a string or a comment does not."""
    code = """import java.util.*;
class Util { static int twice(int x) { return 2 * x; } static class Inner {
    public static void main(String[] a) { System.out.println("wrong"); } } }
// class Wrong { public static void main(String[] a) {} }
final class app {
    static String s = "static void main(";
    public static void main(String[] args) {
        Scanner in = new Scanner(System.in);
        System.out.println("app " + Util.twice(in.nextInt()) + " " + String.join(",", args));
    }
}
"""
    r = sandbox("java").run(code, stdin="21", args=["x", "app"])
    assert r["verdict"] == "ok", r
    assert r["output"] == "app 42 x,app\n"


def test_java_several_top_level_classes_one_main(sandbox):
    code = """interface Shape { double area(); }
record Square(double side) implements Shape { public double area() { return side * side; } }
enum Unit { CM, M }
class Runner {
    public static void main(String[] args) {
        Shape s = new Square(3);
        System.out.println(s.area() + " " + Unit.M + " " + new Helper().name());
    }
}
class Helper { String name() { return "helper"; } }
"""
    r = sandbox("java").run(code)
    assert r["verdict"] == "ok", r
    assert r["output"] == "9.0 M helper\n"
    # A public class without main names the file; the class with main still runs.
    code = ("public class Lib { static int f() { return 7; } }\n"
            "class Main { public static void main(String[] a) { System.out.println(Lib.f()); } }\n")
    r = sandbox("java").run(code)
    assert r["verdict"] == "ok", r
    assert r["output"] == "7\n"
    # Two classes with main: the public one runs.
    code = ("class A { public static void main(String[] a) { System.out.println(\"A\"); } }\n"
            "public class B { public static void main(String[] a) { System.out.println(\"B\"); } }")
    r = sandbox("java").run(code)
    assert r["verdict"] == "ok", r
    assert r["output"] == "B\n"


def test_java_twenty_threads(sandbox):
    code = """public class Main {
    public static void main(String[] args) throws Exception {
        Thread[] ts = new Thread[20];
        final long[] sum = new long[1];
        for (int i = 0; i < ts.length; i++) {
            final int k = i;
            ts[i] = new Thread(() -> {
                try { Thread.sleep(300); } catch (InterruptedException e) { }
                synchronized (sum) { sum[0] += k; }
            });
            ts[i].start();
        }
        for (Thread t : ts) t.join();
        System.out.println("sum " + sum[0] + " heap<=limit "
            + (Runtime.getRuntime().maxMemory() <= 384L << 20));
    }
}
"""
    r = sandbox("java").run(code)
    assert r["verdict"] == "ok", r
    assert r["output"] == "sum 190 heap<=limit true\n"


@pytest.mark.parametrize("blocking", [False, True], ids=["busy", "blocking-syscalls"])
def test_go_many_goroutines(sandbox, blocking):
    work = ("ts := syscall.Timespec{Nsec: 200000000}; syscall.Nanosleep(&ts, nil)" if blocking
            else "for j := 0; j < 100000; j++ { s += j % (k + 1) }")
    code = f"""package main
import ("fmt"; "runtime"; "sync"; "syscall")
var _ = syscall.Getpid
func main() {{
    runtime.GOMAXPROCS(4)
    var wg sync.WaitGroup
    var mu sync.Mutex
    total := 0
    for i := 0; i < 100; i++ {{
        wg.Add(1)
        go func(k int) {{
            defer wg.Done()
            s := 0
            {work}
            mu.Lock(); total += 1 + s*0; mu.Unlock()
        }}(i)
    }}
    wg.Wait()
    fmt.Println("done", total)
}}
"""
    r = sandbox("go").run(code)
    assert r["verdict"] == "ok", r
    assert r["output"] == "done 100\n"


def test_python_ml_fits_a_model(sandbox):
    code = """import numpy as np, pandas as pd, scipy.optimize
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.ensemble import RandomForestClassifier
X, y = make_classification(n_samples=300, n_features=6, random_state=0)
df = pd.DataFrame(X).assign(y=y)
lr = LogisticRegression().fit(df.drop(columns="y"), df.y)
rf = RandomForestClassifier(n_estimators=20, random_state=0, n_jobs=-1).fit(X, y)
opt = scipy.optimize.minimize(lambda v: (v[0] - 3) ** 2, [0.0])
print(lr.score(X, y) > 0.8, rf.score(X, y) > 0.9, round(float(opt.x[0]), 3))
"""
    r = sandbox("python-ml").run(code)
    assert r["verdict"] == "ok", r
    assert r["output"] == "True True 3.0\n"


@pytest.mark.parametrize("lang", LANGS)
def test_version_matches_the_binary(sandbox, tmp_path, lang):
    """The version-<id> file build.sh wrote (what GET /languages reports) is what the binary in
    the image says, run in the sandbox; and the declared version is a prefix of it."""
    entry = languages()[lang]
    recorded = (IMAGES_DIR / entry["image"] / f"version-{lang}").read_text().strip()
    assert recorded.startswith(entry["version"])
    table = dict(languages())
    table[lang] = dict(entry, compile=None, run=entry["version_command"], options={})
    lf = tmp_path / "languages.json"
    lf.write_text(json.dumps({"languages": list(table.values())}))
    r = sandbox(lang, languages_file=lf).run("\n")
    assert r["verdict"] == "ok", r
    assert r["output"].splitlines()[0].strip() == recorded


# ---- real programs: threads, SIMD and OpenMP, byte-order marks, editions, options ----

# Four threads each add a quarter of 0..999999; prints how many ran and the total.
THREADS = {
    "c": r"""#include <pthread.h>
#include <stdio.h>
static long part[4];
static void *work(void *arg) {
    long k = (long)arg, s = 0;
    for (long i = k * 250000; i < (k + 1) * 250000; i++) s += i;
    part[k] = s;
    return NULL;
}
int main(void) {
    pthread_t t[4];
    for (long k = 0; k < 4; k++) if (pthread_create(&t[k], NULL, work, (void *)k)) return 1;
    long total = 0;
    for (int k = 0; k < 4; k++) { pthread_join(t[k], NULL); total += part[k]; }
    printf("threads 4 sum %ld\n", total);
    return 0;
}
""",
    "cpp": r"""#include <atomic>
#include <iostream>
#include <thread>
#include <vector>
int main() {
    std::atomic<long> total{0};
    std::atomic<int> ran{0};
    std::vector<std::jthread> ts;  // C++20
    for (long k = 0; k < 4; k++)
        ts.emplace_back([k, &total, &ran] {
            long s = 0;
            for (long i = k * 250000; i < (k + 1) * 250000; i++) s += i;
            total += s;
            ran++;
        });
    ts.clear();
    std::cout << "threads " << ran << " sum " << total << "\n";
}
""",
    "rust": r"""use std::sync::{Arc, Mutex};
use std::thread;
fn main() {
    let total = Arc::new(Mutex::new(0u64));
    let handles: Vec<_> = (0..4u64).map(|k| {
        let total = Arc::clone(&total);
        thread::spawn(move || {
            let s: u64 = (k * 250000..(k + 1) * 250000).sum();
            *total.lock().unwrap() += s;
        })
    }).collect();
    let n = handles.len();
    for h in handles { h.join().unwrap(); }
    println!("threads {} sum {}", n, *total.lock().unwrap());
}
""",
    "go": r"""package main

import (
	"fmt"
	"runtime"
	"sync"
)

func main() {
	runtime.GOMAXPROCS(4)
	var wg sync.WaitGroup
	parts := make([]int64, 4)
	for k := 0; k < 4; k++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			runtime.LockOSThread() // its own OS thread
			var s int64
			for i := int64(k) * 250000; i < int64(k+1)*250000; i++ {
				s += i
			}
			parts[k] = s
		}(k)
	}
	wg.Wait()
	fmt.Println("threads", len(parts), "sum", parts[0]+parts[1]+parts[2]+parts[3])
}
""",
    "java": r"""import java.util.concurrent.*;
import java.util.concurrent.atomic.*;
public class Main {
    public static void main(String[] args) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(4);
        AtomicLong total = new AtomicLong();
        CountDownLatch done = new CountDownLatch(4);
        for (int k = 0; k < 4; k++) {
            final long kk = k;
            pool.submit(() -> {
                long s = 0;
                for (long i = kk * 250000; i < (kk + 1) * 250000; i++) s += i;
                total.addAndGet(s);
                done.countDown();
            });
        }
        done.await();
        pool.shutdown();
        System.out.println("threads 4 sum " + total.get());
    }
}
""",
}


@pytest.mark.parametrize("lang", COMPILED)
def test_multi_threaded_program(sandbox, lang):
    r = sandbox(lang).run(THREADS[lang])
    assert r["verdict"] == "ok", r
    assert r["output"] == "threads 4 sum 499999500000\n"


# What each language's runtime counts of the CPUs, every way it has, one line of numbers: each
# must be the CPUs the step runs on, ceil(its CPU quota), not the host's.
CPUS_SEEN = {
    "python": "import os, subprocess\n"
              "print(os.cpu_count(), len(os.sched_getaffinity(0)),"
              " subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip(),"
              " sum(1 for l in open('/proc/cpuinfo') if l.startswith('processor')))",
    "python-ml": "import multiprocessing, os\nimport numpy\n"
                 "print(os.cpu_count(), multiprocessing.cpu_count(), len(os.sched_getaffinity(0)))",
    "javascript": 'const os = require("os");\n'
                  "console.log(os.cpus().length, os.availableParallelism());",
    "java": "import java.nio.file.*;\npublic class Main {\n"
            "  public static void main(String[] a) throws Exception {\n"
            "    long seen = Files.readAllLines(Path.of(\"/proc/cpuinfo\")).stream()"
            ".filter(l -> l.startsWith(\"processor\")).count();\n"
            "    System.out.println(Runtime.getRuntime().availableProcessors() + \" \" + seen);\n"
            "  }\n}\n",
    "c": "#define _GNU_SOURCE\n#include <omp.h>\n#include <sched.h>\n#include <stdio.h>\n"
         "#include <sys/sysinfo.h>\n#include <unistd.h>\n"
         "int main(void) { cpu_set_t s; sched_getaffinity(0, sizeof s, &s);\n"
         "  printf(\"%ld %ld %d %d %d\\n\", sysconf(_SC_NPROCESSORS_ONLN), sysconf(_SC_NPROCESSORS_CONF),"
         " get_nprocs(), omp_get_max_threads(), CPU_COUNT(&s)); return 0; }\n",
    "cpp": "#include <omp.h>\n#include <iostream>\n#include <thread>\n"
           "int main() { int team = 0;\n#pragma omp parallel\n#pragma omp single\n"
           "  team = omp_get_num_threads();\n"
           "  std::cout << std::thread::hardware_concurrency() << ' ' << team << std::endl; }\n",
    "rust": "fn main() { println!(\"{}\", std::thread::available_parallelism().unwrap()); }\n",
    "go": 'package main\nimport (\n\t"fmt"\n\t"runtime"\n)\n'
          "func main() { fmt.Println(runtime.NumCPU()) }\n",
}


@pytest.mark.parametrize("lang", LANGS)
def test_cpus_seen_are_the_cpus_given(sandbox, lang):
    """A step with a quota of c cores runs on ceil(c) CPUs and sees those only: Python's
    os.cpu_count(), Node's os.cpus(), nproc, OpenMP's default team, the JVM, Rust and Go all say
    so (worker/sandbox/cpus.h). The host has more CPUs than that whenever this runs on CI."""
    quota = languages()[lang]["limits"]["run"]["cpus"]
    given = min(math.ceil(quota), len(os.sched_getaffinity(0)))
    r = sandbox(lang).run(CPUS_SEEN[lang])
    assert r["verdict"] == "ok", r
    assert [int(v) for v in r["output"].split()] == [given] * len(r["output"].split()), r["output"]


def host_has(flag):
    with open("/proc/cpuinfo") as f:
        return flag in next(line for line in f if line.startswith("flags")).split()


# SSE3, SSSE3, SSE4.1 and AVX intrinsics and a __builtin_ia32_* call, with no target attribute:
# they compile only because the default flags hold -march=native.
C_SIMD = r"""#include <immintrin.h>
#include <stdio.h>
typedef int v4si __attribute__((vector_size(16)));
int main(void) {
    __m128 h = _mm_hadd_ps(_mm_setr_ps(1, 2, 3, 4), _mm_setr_ps(5, 6, 7, 8));      /* SSE3 */
    __m128i a = _mm_abs_epi32(_mm_setr_epi32(-1, 2, -3, 4));                         /* SSSE3 */
    __m128i m = _mm_mullo_epi32(a, _mm_setr_epi32(10, 10, 10, 10));                  /* SSE4.1 */
    __m256d d = _mm256_add_pd(_mm256_set1_pd(1.5), _mm256_setr_pd(0, 1, 2, 3));      /* AVX */
    v4si mx = __builtin_ia32_pmaxsd128((v4si){1, 9, 3, 7}, (v4si){5, 2, 8, 6});     /* SSE4.1 */
    float hf[4]; int mi[4]; double dd[4];
    _mm_storeu_ps(hf, h); _mm_storeu_si128((__m128i *)mi, m); _mm256_storeu_pd(dd, d);
    printf("%g %g %g %g|%d %d %d %d|%g %g %g %g|%d %d %d %d\n", hf[0], hf[1], hf[2], hf[3],
           mi[0], mi[1], mi[2], mi[3], dd[0], dd[1], dd[2], dd[3], mx[0], mx[1], mx[2], mx[3]);
    return 0;
}
"""

# OpenMP with omp_get_thread_num, and AVX in the loop body.
CPP_OPENMP = r"""#include <immintrin.h>
#include <omp.h>
#include <cstdio>
#include <set>
int main() {
    std::set<int> ids;
    int team = 0;
#pragma omp parallel num_threads(4)
    {
#pragma omp critical
        ids.insert(omp_get_thread_num());
#pragma omp single
        team = omp_get_num_threads();
    }
    double total = 0;
#pragma omp parallel for num_threads(4) reduction(+ : total)
    for (int i = 0; i < 1000; i++) {
        __m256d v = _mm256_mul_pd(_mm256_set1_pd(i), _mm256_setr_pd(1, 2, 3, 4));
        alignas(32) double o[4];
        _mm256_store_pd(o, v);
        total += o[0] + o[1] + o[2] + o[3];
    }
    std::printf("team %d ids", team);
    for (int id : ids) std::printf(" %d", id);
    std::printf(" total %.0f\n", total);
}
"""

RUST_SIMD = r"""use core::arch::x86_64::*; // a 2018+ path: no `extern crate core`

#[target_feature(enable = "sse4.1")]
unsafe fn mul(a: __m128i, b: __m128i) -> __m128i { _mm_mullo_epi32(a, b) }

fn main() {
    assert!(is_x86_feature_detected!("sse4.1"));
    let mut out = [0i32; 4];
    unsafe {
        let a = _mm_add_epi32(_mm_setr_epi32(1, 2, 3, 4), _mm_set1_epi32(1)); // SSE2
        _mm_storeu_si128(out.as_mut_ptr() as *mut __m128i, mul(a, _mm_set1_epi32(10)));
    }
    println!("{:?}", out);
}
"""

# Go has no intrinsics: SSE2 through the Go assembler, in an extra file.
GO_SIMD_MAIN = """package main

import "fmt"

func add4(a, b, out *[4]uint32)

func main() {
	a := [4]uint32{1, 2, 3, 4}
	b := [4]uint32{10, 20, 30, 40}
	var o [4]uint32
	add4(&a, &b, &o)
	fmt.Println(o)
}
"""
GO_SIMD_ASM = """#include "textflag.h"

// func add4(a, b, out *[4]uint32)
TEXT ·add4(SB), NOSPLIT, $0-24
	MOVQ a+0(FP), AX
	MOVQ b+8(FP), BX
	MOVQ out+16(FP), CX
	MOVOU (AX), X0
	MOVOU (BX), X1
	PADDL X1, X0
	MOVOU X0, (CX)
	RET
"""

# The incubating Vector API, given to javac and java through the options allow-list.
JAVA_VECTOR = """import jdk.incubator.vector.*;
final class vec {
    public static void main(String[] args) {
        VectorSpecies<Integer> S = IntVector.SPECIES_128;
        int[] x = {1, 2, 3, 4, 5, 6, 7, 8};
        int sum = 0;
        for (int i = 0; i < x.length; i += S.length()) {
            IntVector v = IntVector.fromArray(S, x, i);
            sum += v.mul(v).reduceLanes(VectorOperators.ADD);
        }
        System.out.println("lanes " + S.length() + " sum of squares " + sum);
    }
}
"""
VECTOR_OPTIONS = ["--add-modules", "jdk.incubator.vector"]


def test_c_simd_intrinsics(sandbox):
    assert host_has("avx"), "the SIMD tests need an x86-64 host with AVX"
    r = sandbox("c").run(C_SIMD)
    assert r["verdict"] == "ok", r
    assert r["output"] == "3 7 11 15|10 20 30 40|1.5 2.5 3.5 4.5|5 9 8 7\n"


def test_cpp_openmp_and_avx(sandbox):
    assert host_has("avx"), "the SIMD tests need an x86-64 host with AVX"
    r = sandbox("cpp").run(CPP_OPENMP)
    assert r["verdict"] == "ok", r
    # sum over i < 1000 of 10 i = 10 * 499500
    assert r["output"] == "team 4 ids 0 1 2 3 total 4995000\n"


def test_rust_simd_and_2018_paths(sandbox):
    r = sandbox("rust").run(RUST_SIMD)
    assert r["verdict"] == "ok", r
    assert r["output"] == "[20, 30, 40, 50]\n"


def test_go_simd_assembly(sandbox):
    r = sandbox("go").run(GO_SIMD_MAIN, files=[{"name": "add_amd64.s", "content": GO_SIMD_ASM}])
    assert r["verdict"] == "ok", r
    assert r["output"] == "[11 22 33 44]\n"


def test_java_vector_api(sandbox):
    r = sandbox("java").run(JAVA_VECTOR, compiler_options=VECTOR_OPTIONS,
                            run_options=VECTOR_OPTIONS)
    assert r["verdict"] == "ok", r
    assert r["output"] == "lanes 4 sum of squares 204\n"
    assert "jdk.incubator.vector" in r["compile_output"]  # javac's incubator warning
    # Without the module the program does not compile: the options are what made it work.
    r = sandbox("java").run(JAVA_VECTOR)
    assert r["verdict"] == "compile_error", r
    assert "jdk.incubator.vector" in r["compile_output"]


def test_rust_edition_2021(sandbox):
    code = """use std::collections::HashMap;
fn parse(s: &str) -> Result<i32, std::num::ParseIntError> { let v = s.trim().parse::<i32>()?; Ok(v) }
fn main() {
    let v = vec![(1, "a"), (2, "b")];
    let m: HashMap<_, _> = v.into_iter().collect();       // 2021 prelude: FromIterator
    let arr = [String::from("x"), String::from("y")];
    let joined: Vec<String> = arr.into_iter().collect();  // 2021: arrays iterate by value
    let d: Box<dyn Fn(i32) -> i32> = Box::new(|x| x + 1);
    let c = || m.len();                                   // 2021: disjoint closure captures
    println!("{} {} {} {}", c(), joined.join(""), d(parse("41").unwrap()), core::cmp::max(3, 4));
}
"""
    r = sandbox("rust").run(code)
    assert r["verdict"] == "ok", r
    assert r["output"] == "2 xy 42 4\n"


@pytest.mark.parametrize("lang", LANGS)
def test_byte_order_mark_is_stripped(sandbox, lang):
    r = sandbox(lang).run("\ufeff" + HELLO[lang])
    assert r["verdict"] == "ok", r
    assert r["output"] == "hello, world\n"


def test_byte_order_mark_in_extra_java_file_and_base64(sandbox):
    code, name, content = FILES["java"]
    r = sandbox("java").run("\ufeff\ufeff" + code, files=[{"name": name, "content": "\ufeff" + content}])
    assert r["verdict"] == "ok", r
    assert r["output"] == "hi x\n"
    b = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
    r = sandbox("java").run(b("\ufeff" + JAVA_SOLUTION), stdin=b("4"), base64=True)
    assert r["verdict"] == "ok", r
    assert base64.b64decode(r["output"]) == b"8 20\n"
    # A data file keeps its mark: only sources lose it.
    r = sandbox("python").run("print(open('data.txt', 'rb').read()[:3].hex())",
                              files=[{"name": "data.txt", "content": "\ufeffx"}])
    assert r["output"] == "efbbbf\n"


# (language, code, options, expected output): options taking effect in the sandbox.
OPTIONS = [
    ("c", '#include <stdio.h>\nint main(void) { printf("%s %d\\n", GREETING, N * 2); }\n',
     {"compiler_options": ["-DGREETING=\"hi there\"", "-DN=21", "-O3", "-lquadmath"]},
     "hi there 42\n"),
    ("cpp", "#include <iostream>\nint main() { std::cout << __cplusplus << '\\n'; }\n", {},
     "202002\n"),
    ("cpp", "#include <iostream>\nint main() { std::cout << __cplusplus << '\\n'; }\n",
     {"compiler_options": ["-std=gnu++17"]}, "201703\n"),
    ("c", "#include <stdio.h>\nint main(void) { printf(\"%ld %d\\n\", __STDC_VERSION__,"
          " __OPTIMIZE__ + 0); }\n", {"compiler_options": ["-std=c11"]}, "201112 1\n"),
    ("rust", 'fn main() { if cfg!(fast) { println!("fast"); } else { println!("slow"); } }\n',
     {"compiler_options": ["--cfg", "fast", "-C", "target-cpu=native"]}, "fast\n"),
    ("go", 'package main\nimport "fmt"\nvar version = "dev"\nfunc main() { fmt.Println(version) }\n',
     {"compiler_options": ["-ldflags=-X main.version=1.2.3"]}, "1.2.3\n"),
    ("java", 'class Main { public static void main(String[] a) {'
             ' System.out.println(System.getProperty("judge") + " " + a[0]); } }',
     {"run_options": ["-Djudge=yes it is"], "args": ["arg"]}, "yes it is arg\n"),
    ("python", "assert False, 'asserts run'\nprint('asserts skipped', __debug__)",
     {"run_options": ["-O"]}, "asserts skipped False\n"),
    ("javascript", "console.log(typeof gc)", {"run_options": ["--expose-gc"]}, "function\n"),
]


@pytest.mark.parametrize("lang,code,fields,expected", OPTIONS,
                         ids=[f"{o[0]}-{i}" for i, o in enumerate(OPTIONS)])
def test_options_take_effect(sandbox, lang, code, fields, expected):
    r = sandbox(lang).run(code, **fields)
    assert r["verdict"] == "ok", r
    assert r["output"] == expected
