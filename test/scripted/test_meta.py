"""Packaging metadata, without a server:

- META.json is valid against the PGXN Meta Spec v1.0.0
  (https://pgxn.org/spec/): required keys, the types and forms of every key
  the spec defines (terms, SemVer versions, version ranges, licenses, paths,
  URIs), no unknown keys but custom x_ ones; the validator itself rejects a
  set of broken documents;
- one version everywhere: META.json (distribution and extension),
  mixpeek.control's default_version, MIXPEEK_VERSION (the User-Agent) and
  debian/changelog's upstream version; the file META.json names is installed
  (Makefile DATA) and there is an update script to it from every older
  version script;
- `make dist` writes <name>-<version>.zip of the committed tree with the
  files PGXN needs under <name>-<version>/.
"""
import copy
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mxtest as mx  # noqa: E402

TOP = mx.TOP

# ---------- PGXN Meta Spec v1.0.0 ----------

SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
                    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$")
TERM = re.compile(r"^[^/\\\s\x00-\x1f\x7f]{2,}$")
TAG = re.compile(r"^[^/\\\x00-\x1f\x7f]{2,255}$")
URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:[^\s]+$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
LICENSES = {"agpl_3", "apache_1_1", "apache_2_0", "artistic_1", "artistic_2", "bsd", "freebsd",
            "gfdl_1_2", "gfdl_1_3", "gpl_1", "gpl_2", "gpl_3", "lgpl_2_1", "lgpl_3_0", "mit",
            "mozilla_1_0", "mozilla_1_1", "openssl", "perl_5", "postgresql", "qpl_1_0", "ssleay",
            "sun", "zlib", "open_source", "restricted", "unrestricted", "unknown"}
PHASES = {"configure", "build", "test", "runtime", "develop"}
RELATIONS = {"requires", "recommends", "suggests", "conflicts"}


def custom(key):
    return re.match(r"^[xX]_.", key) is not None


def version_range(v):
    if v == 0 and not isinstance(v, bool):
        return True
    if not isinstance(v, str):
        return False
    for part in v.split(","):
        m = re.match(r"^\s*(?:(==|!=|<=|>=|<|>)\s*)?(\S+)\s*$", part)
        if not m or not (SEMVER.match(m.group(2)) or (m.group(1) is None and m.group(2) == "0")):
            return False
    return True


def is_path(v):
    return isinstance(v, str) and len(v) >= 2 and not v.startswith("/") and "\\" not in v


def pgxn_errors(doc):
    """What makes doc invalid under PGXN Meta Spec v1.0.0 (empty: valid)."""
    errs = []

    def err(path, msg):
        errs.append("%s: %s" % (path, msg))

    def nonempty_str(v):
        return isinstance(v, str) and len(v) > 0

    def keys_ok(obj, allowed, path):
        for k in obj:
            if k not in allowed and not custom(k):
                err(path, "unknown key %r" % k)

    if not isinstance(doc, dict):
        return ["the document is not an object"]
    for k in ("name", "version", "abstract", "maintainer", "license", "provides", "meta-spec"):
        if k not in doc:
            err(k, "required")
    keys_ok(doc, {"name", "version", "abstract", "maintainer", "license", "provides", "meta-spec",
                  "description", "generated_by", "tags", "no_index", "prereqs", "release_status",
                  "resources"}, "top level")
    if "name" in doc and not (isinstance(doc["name"], str) and TERM.match(doc["name"])):
        err("name", "not a term (2+ characters, no slash, backslash, space or control character)")
    if "version" in doc and not (isinstance(doc["version"], str) and SEMVER.match(doc["version"])):
        err("version", "not a semantic version")
    for k in ("abstract", "description", "generated_by"):
        if k in doc and not nonempty_str(doc[k]):
            err(k, "not a non-empty string")
    m = doc.get("maintainer")
    if "maintainer" in doc and not (nonempty_str(m) or (isinstance(m, list) and m and len(set(map(str, m))) == len(m)
                                                         and all(nonempty_str(x) for x in m))):
        err("maintainer", "neither a string nor a list of distinct strings")
    lic = doc.get("license")
    if "license" in doc:
        if isinstance(lic, str):
            ok = lic in LICENSES
        elif isinstance(lic, list):
            ok = bool(lic) and all(isinstance(x, str) and x in LICENSES for x in lic) and len(set(lic)) == len(lic)
        elif isinstance(lic, dict):
            ok = bool(lic) and all(isinstance(v, str) and URI.match(v) for v in lic.values())
        else:
            ok = False
        if not ok:
            err("license", "neither a known license name, a list of them, nor an object of names and URIs")
    ms = doc.get("meta-spec")
    if "meta-spec" in doc:
        if not isinstance(ms, dict):
            err("meta-spec", "not an object")
        else:
            keys_ok(ms, {"version", "url"}, "meta-spec")
            if not (isinstance(ms.get("version"), str) and re.match(r"^1\.0\.\d+$", ms["version"])):
                err("meta-spec.version", "not 1.0.x")
            if "url" in ms and ms["url"] not in ("https://pgxn.org/meta/spec.txt", "http://pgxn.org/meta/spec.txt"):
                err("meta-spec.url", "not the spec's URL")
    pr = doc.get("provides")
    if "provides" in doc:
        if not (isinstance(pr, dict) and pr):
            err("provides", "not a non-empty object")
        else:
            for ext, e in pr.items():
                p = "provides.%s" % ext
                if not TERM.match(ext):
                    err(p, "the extension name is not a term")
                if not isinstance(e, dict):
                    err(p, "not an object")
                    continue
                keys_ok(e, {"file", "version", "abstract", "docfile", "docpath"}, p)
                if not is_path(e.get("file")):
                    err(p + ".file", "missing or not a relative path")
                if not (isinstance(e.get("version"), str) and SEMVER.match(e["version"])):
                    err(p + ".version", "missing or not a semantic version")
                if "abstract" in e and not nonempty_str(e["abstract"]):
                    err(p + ".abstract", "not a non-empty string")
                if "docfile" in e and not is_path(e["docfile"]):
                    err(p + ".docfile", "not a relative path")
                if "docpath" in e and not nonempty_str(e["docpath"]):
                    err(p + ".docpath", "not a non-empty string")
    if "prereqs" in doc:
        pq = doc["prereqs"]
        if not (isinstance(pq, dict) and any(k in PHASES for k in pq)):
            err("prereqs", "not an object with a phase")
        else:
            keys_ok(pq, PHASES, "prereqs")
            for phase, rels in pq.items():
                if custom(phase):
                    continue
                if not (isinstance(rels, dict) and any(k in RELATIONS for k in rels)):
                    err("prereqs." + phase, "not an object with a relationship")
                    continue
                keys_ok(rels, RELATIONS, "prereqs." + phase)
                for rel, reqs in rels.items():
                    p = "prereqs.%s.%s" % (phase, rel)
                    if custom(rel):
                        continue
                    if not (isinstance(reqs, dict) and reqs):
                        err(p, "not a non-empty object")
                        continue
                    for name, rng in reqs.items():
                        if not TERM.match(name):
                            err(p, "%r is not a term" % name)
                        if not version_range(rng):
                            err("%s.%s" % (p, name), "not a version range: %r" % (rng,))
    if "tags" in doc:
        t = doc["tags"]
        if not (isinstance(t, list) and t and len(set(map(str, t))) == len(t)
                and all(isinstance(x, str) and TAG.match(x) for x in t)):
            err("tags", "not a list of distinct tags (2-255 characters, no slash, backslash or control character)")
    if "no_index" in doc:
        ni = doc["no_index"]
        if not (isinstance(ni, dict) and ("file" in ni or "directory" in ni)):
            err("no_index", "not an object with file or directory")
        else:
            keys_ok(ni, {"file", "directory"}, "no_index")
            for k in ("file", "directory"):
                v = ni.get(k)
                if k in ni and not (is_path(v) or (isinstance(v, list) and v and all(is_path(x) for x in v))):
                    err("no_index." + k, "not a path or a list of paths")
    if "release_status" in doc and doc["release_status"] not in ("stable", "testing", "unstable"):
        err("release_status", "not stable, testing or unstable")
    if "resources" in doc:
        r = doc["resources"]
        if not (isinstance(r, dict) and any(k in r for k in ("homepage", "bugtracker", "repository"))):
            err("resources", "not an object with homepage, bugtracker or repository")
        else:
            keys_ok(r, {"homepage", "bugtracker", "repository"}, "resources")
            if "homepage" in r and not (isinstance(r["homepage"], str) and URI.match(r["homepage"])):
                err("resources.homepage", "not a URI")
            bt = r.get("bugtracker")
            if "bugtracker" in r:
                if not (isinstance(bt, dict) and ("web" in bt or "mailto" in bt)):
                    err("resources.bugtracker", "not an object with web or mailto")
                else:
                    keys_ok(bt, {"web", "mailto"}, "resources.bugtracker")
                    if "web" in bt and not (isinstance(bt["web"], str) and URI.match(bt["web"])):
                        err("resources.bugtracker.web", "not a URI")
                    if "mailto" in bt and not (isinstance(bt["mailto"], str) and EMAIL.match(bt["mailto"])):
                        err("resources.bugtracker.mailto", "not an email address")
            rp = r.get("repository")
            if "repository" in r:
                if not (isinstance(rp, dict) and ("url" in rp or "web" in rp)):
                    err("resources.repository", "not an object with url or web")
                else:
                    keys_ok(rp, {"url", "web", "type"}, "resources.repository")
                    for k in ("url", "web"):
                        if k in rp and not (isinstance(rp[k], str) and URI.match(rp[k])):
                            err("resources.repository." + k, "not a URI")
                    if "type" in rp and not (isinstance(rp["type"], str) and re.match(r"^[a-z]+$", rp["type"])):
                        err("resources.repository.type", "not a lowercase word")
    return errs


def read(path):
    with open(os.path.join(TOP, path)) as f:
        return f.read()


meta = default = None


def setUpModule():
    """META.json and the default version, for the cases that run alone."""
    global meta, default
    try:
        meta = json.loads(read("META.json"))
    except ValueError:
        meta = None
    m = re.search(r"^default_version\s*=\s*'([^']*)'", read("mixpeek.control"), re.M)
    default = m and m.group(1)


class Meta(mx.TestCase):

    def test_01_meta_json_is_valid_against_the_pgxn_meta(self):
        """META.json is valid against the PGXN Meta Spec v1.0.0"""
        global meta
        meta = json.loads(read("META.json"))
        errs = pgxn_errors(meta)
        mx.check_eq(errs, [], "META.json: spec violations")
        mx.check_eq(meta.get("meta-spec", {}).get("version"), "1.0.0", "meta-spec version")
        mx.check_eq(meta.get("name"), "mixpeek", "distribution name")
        mx.check("mixpeek" in meta.get("provides", {}), "provides the mixpeek extension")
        mx.check_eq(meta.get("prereqs", {}).get("runtime", {}).get("requires", {}).get("PostgreSQL"), "15.0.0",
                    "runtime requires PostgreSQL 15.0.0")

    def test_02_the_validator_rejects_broken_documents(self):
        """the validator rejects broken documents"""
        good = {"name": "mixpeek", "abstract": "a", "version": "1.2.3", "maintainer": "m <m@example.org>",
                "license": "postgresql", "provides": {"mixpeek": {"file": "mixpeek.sql", "version": "1.2.3"}},
                "meta-spec": {"version": "1.0.0"}}
        mx.check_eq(pgxn_errors(good), [], "a minimal valid document")
        broken = [
            ("no maintainer", lambda d: d.pop("maintainer")),
            ("no provides", lambda d: d.pop("provides")),
            ("no meta-spec", lambda d: d.pop("meta-spec")),
            ("version 0.2", lambda d: d.update(version="0.2")),
            ("version 01.2.3", lambda d: d.update(version="01.2.3")),
            ("a numeric version", lambda d: d.update(version=1.2)),
            ("license gpl", lambda d: d.update(license="gpl")),
            ("license object without a URI", lambda d: d.update(license={"PostgreSQL": "the usual"})),
            ("a name with a slash", lambda d: d.update(name="mix/peek")),
            ("a one-letter name", lambda d: d.update(name="m")),
            ("an empty abstract", lambda d: d.update(abstract="")),
            ("an empty maintainer list", lambda d: d.update(maintainer=[])),
            ("provides without file", lambda d: d["provides"]["mixpeek"].pop("file")),
            ("provides without version", lambda d: d["provides"]["mixpeek"].pop("version")),
            ("provides with an absolute file", lambda d: d["provides"]["mixpeek"].update(file="/etc/x.sql")),
            ("provides with an unknown key", lambda d: d["provides"]["mixpeek"].update(author="x")),
            ("empty provides", lambda d: d.update(provides={})),
            ("meta-spec 2.0.0", lambda d: d.update({"meta-spec": {"version": "2.0.0"}})),
            ("an unknown top-level key", lambda d: d.update(homepage="https://example.org")),
            ("a prereq phase that is not one", lambda d: d.update(prereqs={"install": {"requires": {"PostgreSQL": "15.0.0"}}})),
            ("a version range that is not one", lambda d: d.update(prereqs={"runtime": {"requires": {"PostgreSQL": "15"}}})),
            ("release_status final", lambda d: d.update(release_status="final")),
            ("a tag with a slash", lambda d: d.update(tags=["a/b"])),
            ("a homepage that is no URI", lambda d: d.update(resources={"homepage": "not a uri"})),
            ("resources without a known key", lambda d: d.update(resources={"x_wiki": "https://example.org"})),
        ]
        for what, mutate in broken:
            d = copy.deepcopy(good)
            mutate(d)
            mx.check(pgxn_errors(d) != [], "the validator rejects: %s" % what)
        ok = copy.deepcopy(good)
        ok.update({"x_custom": 1, "license": ["postgresql", "mit"],
                   "prereqs": {"runtime": {"requires": {"PostgreSQL": ">= 15.0.0, < 19.0.0", "plpgsql": 0}}},
                   "resources": {"bugtracker": {"mailto": "bugs@example.org"},
                                 "repository": {"url": "https://example.org/r.git", "type": "git"}}})
        mx.check_eq(pgxn_errors(ok), [], "the validator accepts custom keys, license lists, ranges, resources")

    def test_03_one_version_everywhere(self):
        """one version everywhere"""
        global default
        control = read("mixpeek.control")
        default = re.search(r"^default_version\s*=\s*'([^']*)'", control, re.M).group(1)
        comment = re.search(r"^comment\s*=\s*'((?:[^']|'')*)'", control, re.M).group(1).replace("''", "'")
        ua = re.search(r'#define MIXPEEK_VERSION "([^"]*)"', read("src/settings.h")).group(1)
        changelog = read("debian/changelog").splitlines()[0]
        deb_upstream = re.match(r"^\S+ \(([^)-]+)(?:-[^)]*)?\)", changelog).group(1)
        ext = (meta or {}).get("provides", {}).get("mixpeek", {})
        for what, v in (("META.json version", (meta or {}).get("version")), ("META.json provides.mixpeek.version",
                        ext.get("version")), ("MIXPEEK_VERSION", ua), ("debian/changelog", deb_upstream)):
            mx.check_eq(v, default, "%s equals default_version" % what)
        mx.check_eq(ext.get("abstract"), comment, "the extension's abstract is the control file's comment")
        f = ext.get("file", "")
        mx.check(os.path.isfile(os.path.join(TOP, f)), "provides.mixpeek.file exists", f)
        mx.check_eq(f, "mixpeek--%s.sql" % default, "provides.mixpeek.file is the default version's script")
        mx.check(os.path.isfile(os.path.join(TOP, ext.get("docfile", "README.md"))), "the docfile exists")
        makefile = read("Makefile")
        data = re.search(r"^DATA\s*=\s*(.*)$", makefile, re.M)
        data = data.group(1).split() if data else []
        scripts = sorted(n for n in os.listdir(TOP) if re.match(r"^mixpeek--[0-9.]+(--[0-9.]+)?\.sql$", n))
        for s in scripts:
            mx.check(s in data or "$(wildcard" in makefile, "%s is installed (Makefile DATA)" % s, data)
        installs = [re.match(r"^mixpeek--([0-9.]+)\.sql$", s).group(1) for s in scripts
                    if re.match(r"^mixpeek--[0-9.]+\.sql$", s)]
        for v in installs:
            if v != default:
                mx.check("mixpeek--%s--%s.sql" % (v, default) in scripts,
                         "an update script from %s to %s" % (v, default), scripts)

    def test_04_make_dist(self):
        """make dist"""
        git = subprocess.run(["git", "-C", TOP, "rev-parse", "--verify", "HEAD"], capture_output=True, text=True)
        if git.returncode != 0:
            raise mx.Skip("not a git work tree")
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "dist.zip")
            p = subprocess.run(["make", "-s", "-C", TOP, "dist", "DISTFILE=" + out], capture_output=True, text=True)
            mx.check(p.returncode == 0, "make dist succeeds", p.stderr[-2000:])
            if p.returncode == 0:
                with zipfile.ZipFile(out) as z:
                    names = set(z.namelist())
                    prefix = "mixpeek-%s/" % default
                    mx.check(all(n.startswith(prefix) for n in names), "every file is under %s" % prefix,
                             sorted(n for n in names if not n.startswith(prefix))[:5])
                    for f in ("META.json", "mixpeek.control", "Makefile", "README.md", "mixpeek--%s.sql" % default,
                              "src/settings.h", "debian/control", "debian/rules"):
                        mx.check(prefix + f in names, "the zip has %s" % f)
                    dist_meta = json.loads(z.read(prefix + "META.json"))
                    mx.check_eq(pgxn_errors(dist_meta), [], "the zip's META.json is valid")
                    mx.log("  %d files, %d bytes" % (len(names), os.path.getsize(out)))


if __name__ == "__main__":
    mx.main('test_meta')
