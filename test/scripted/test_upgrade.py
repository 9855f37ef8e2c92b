"""Upgrades and dumps: a database that uses the extension survives
ALTER EXTENSION mixpeek UPDATE and a pg_dump / pg_restore into a new cluster.

- 0.1.0 is installed (CREATE EXTENSION mixpeek VERSION '0.1.0') in a new
  database with what users build on it: foreign servers (one on the
  settings' key, one with its own base_url and a superuser's user mapping),
  a user mapping for a role that is not a superuser, foreign tables (typed
  columns, a column with a `field` option, IMPORT FOREIGN SCHEMA), a view
  joining a foreign table to a local one, an SQL-standard function body
  calling mixpeek_document(), and materialized views over foreign tables
  and mixpeek_documents(), one owned by that role;
- ALTER EXTENSION mixpeek UPDATE goes to the default version by a direct
  path; every query answers as before, REFRESH MATERIALIZED VIEW (plain and
  CONCURRENTLY) works, and the role's view is refreshed with the role's key;
- the extension's objects after the update equal those of a fresh install
  of the default version: each member (pg_depend deptype 'e') with its
  definition (function definitions, relation kinds, columns and view
  queries, the wrapper's handler and validator, owners, ACLs, comments),
  the extension's configuration tables, and psql's \\dx+ mixpeek;
- pg_dump -Fc of the updated database restores with pg_restore
  --exit-on-error into a new cluster (initdb'd by this test, preloading the
  library, pointed at the same mock) without a single message; pg_restore's
  own REFRESH of the materialized views fetched the data through the mock
  (the role's view with the role's key); REFRESH MATERIALIZED VIEW works
  there and every query answers as in the source; the restored extension's
  objects equal a fresh install's.  A plain-format dump restores through
  psql -v ON_ERROR_STOP=1 too.
"""
import atexit
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mxtest as mx  # noqa: E402

OLD = "0.1.0"
DB_OLD, DB_FRESH = "mx_upg_old", "mx_upg_fresh"
ROLE, ROLE_PW, ROLE_KEY = "mx_upg_alice", "pw_upg_alice", "sk_test_beta"
OWN_KEY = "sk_test_gamma"   # the superuser's mapping on the server with its own base_url

BINDIR = subprocess.run([os.environ.get("PG_CONFIG", "pg_config"), "--bindir"],
                        check=True, capture_output=True, text=True).stdout.strip()
T0 = time.monotonic()


def binary(name):
    return os.path.join(BINDIR, name)


def run(cmd, what, env=None, **kw):
    """Run a client program; returns (returncode, stdout, stderr)."""
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, **kw)
    if p.returncode != 0:
        mx.log("  %s: exit %d\n%s" % (what, p.returncode, (p.stderr or p.stdout)[-3000:]))
    return p.returncode, p.stdout, p.stderr


def reset_outer():
    for db in (DB_OLD, DB_FRESH):
        mx.query(su, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % db)
    mx.query(su, "DROP ROLE IF EXISTS %s" % ROLE)


# ---------- what a user builds on the extension ----------

def populate(conn, alice, base_url):
    mx.query(conn, """
        CREATE SERVER mx_upg_srv FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (namespace 'production');
        GRANT USAGE ON FOREIGN SERVER mx_upg_srv TO %(role)s;
        CREATE USER MAPPING FOR %(role)s SERVER mx_upg_srv OPTIONS (api_key '%(role_key)s');
        CREATE FOREIGN TABLE articles (
          document_id text, collection_id text, source_type text, lineage_chain jsonb,
          created_at timestamptz, category text, word_count integer, rating numeric,
          title text OPTIONS (field 'metadata.title'), document jsonb
        ) SERVER mx_upg_srv OPTIONS (collection 'col_articles', page_size '7');
        COMMENT ON FOREIGN TABLE articles IS 'Mixpeek articles';
        GRANT SELECT ON articles TO %(role)s;
        GRANT CREATE ON SCHEMA public TO %(role)s;

        CREATE SERVER mx_upg_own FOREIGN DATA WRAPPER mixpeek_fdw OPTIONS (base_url '%(base_url)s');
        CREATE USER MAPPING FOR CURRENT_USER SERVER mx_upg_own OPTIONS (api_key '%(own_key)s');
        CREATE SCHEMA imported;
        IMPORT FOREIGN SCHEMA mixpeek LIMIT TO (articles, frames) FROM SERVER mx_upg_own INTO imported;

        CREATE TABLE tags (document_id text PRIMARY KEY, tag text NOT NULL);
        INSERT INTO tags VALUES ('doc_flat_01', 'first'), ('doc_nested_02', 'second'), ('nope', 'none');
        CREATE VIEW v_tagged AS
          SELECT t.tag, a.document_id, a.title FROM tags t JOIN articles a USING (document_id);

        CREATE FUNCTION title_of(id text) RETURNS text LANGUAGE sql STABLE
        BEGIN ATOMIC
          SELECT mixpeek_document('col_articles', id) #>> '{metadata,title}';
        END;

        CREATE MATERIALIZED VIEW mv_docs AS
          SELECT d ->> 'document_id' AS id, d #>> '{metadata,title}' AS title
          FROM mixpeek_documents('col_articles', ARRAY['doc_flat_01', 'doc_flat_02', 'doc_missing']) AS d;
        CREATE MATERIALIZED VIEW mv_frames AS
          SELECT f.document_id, f.source_document_id, a.category
          FROM imported.frames f LEFT JOIN imported.articles a ON a.document_id = f.source_document_id;
        CREATE UNIQUE INDEX ON mv_frames (document_id);
    """ % dict(role=ROLE, role_key=ROLE_KEY, own_key=OWN_KEY, base_url=base_url))
    # the role's own materialized view: refreshed with the role's key
    mx.query(alice, """
        CREATE MATERIALIZED VIEW mv_news AS
          SELECT document_id, title, word_count, created_at FROM articles WHERE category = 'news';
        CREATE UNIQUE INDEX ON mv_news (document_id);
    """)


QUERIES = [
    ("articles", "SELECT document_id, collection_id, source_type, category, word_count, rating, title, "
                 "created_at, lineage_chain::text, document::text FROM articles ORDER BY document_id"),
    ("articles by id", "SELECT document_id, title FROM articles "
                       "WHERE document_id IN ('doc_flat_01', 'doc_nested_02', 'doc_missing') ORDER BY 1"),
    ("articles pushed down", "SELECT document_id, word_count FROM articles "
                             "WHERE category = 'news' AND word_count > 100 ORDER BY word_count DESC LIMIT 3"),
    ("imported frames", "SELECT document_id, source_document_id, source_type FROM imported.frames ORDER BY 1"),
    ("imported articles", "SELECT count(*), min(document_id), max(document_id) FROM imported.articles"),
    ("view", "SELECT * FROM v_tagged ORDER BY 1"),
    ("function", "SELECT title_of('doc_flat_01'), title_of('doc_missing')"),
    ("mv_docs", "SELECT * FROM mv_docs ORDER BY 1"),
    ("mv_frames", "SELECT * FROM mv_frames ORDER BY 1"),
    ("mv_news", "SELECT * FROM mv_news ORDER BY 1"),
]


def answers(conn):
    out = {}
    for name, sql in QUERIES:
        err = mx.run_error(conn, sql)
        out[name] = ("ERROR", err.sqlstate, err.message) if err else mx.query(conn, sql)
    return out


def check_answers(got, want, what):
    for name, _ in QUERIES:
        mx.check(got[name] == want[name], "%s: %s answers as before" % (what, name),
                 (str(got[name])[:300], str(want[name])[:300]))


def refresh_all(conn, alice, what, role_identity=True):
    """REFRESH every materialized view (the role's as the role); returns the
    mock's requests made while refreshing the role's view."""
    for mv in ("mv_docs", "mv_frames"):
        mx.check(mx.run_error(conn, "REFRESH MATERIALIZED VIEW %s" % mv) is None,
                 "%s: REFRESH MATERIALIZED VIEW %s" % (what, mv))
    mx.check(mx.run_error(conn, "REFRESH MATERIALIZED VIEW CONCURRENTLY mv_frames") is None,
             "%s: REFRESH MATERIALIZED VIEW CONCURRENTLY mv_frames" % what)
    seq = mx.mock_last_seq()
    err = mx.run_error(alice, "REFRESH MATERIALIZED VIEW mv_news")
    mx.check(err is None, "%s: the role refreshes its materialized view" % what, err)
    err = mx.run_error(alice, "REFRESH MATERIALIZED VIEW CONCURRENTLY mv_news")
    mx.check(err is None, "%s: ... CONCURRENTLY too" % what, err)
    reqs = mx.mock_requests(since=seq)
    ids = sorted({r.get("identity") for r in reqs if r["path"].startswith("/v1/")})
    mx.check_eq(ids, ["beta"], "%s: the role's refresh used the role's key (mock identities)" % what)


# ---------- the extension's objects ----------

MEMBERS = """
SELECT pg_describe_object(d.classid, d.objid, d.objsubid) AS object,
  concat_ws(' | ',
    CASE d.classid
      WHEN 'pg_proc'::regclass THEN (
        SELECT concat_ws(' | ', CASE WHEN p.prokind IN ('f', 'p') THEN pg_get_functiondef(p.oid)
                                     ELSE p.prokind::text || ' ' || pg_get_function_identity_arguments(p.oid) END,
                         'owner ' || pg_get_userbyid(p.proowner), 'acl ' || p.proacl::text)
        FROM pg_proc p WHERE p.oid = d.objid)
      WHEN 'pg_class'::regclass THEN (
        SELECT concat_ws(' | ', 'kind ' || c.relkind::text, 'owner ' || pg_get_userbyid(c.relowner),
                         'acl ' || c.relacl::text, 'options ' || c.reloptions::text,
                         'columns ' || (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                                                          || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
                                                          || coalesce(' acl ' || a.attacl::text, ''),
                                                          ', ' ORDER BY a.attnum)
                                        FROM pg_attribute a
                                        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
                         CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END,
                         (SELECT string_agg(pg_get_indexdef(i.indexrelid), '; ' ORDER BY 1)
                          FROM pg_index i WHERE i.indrelid = c.oid))
        FROM pg_class c WHERE c.oid = d.objid)
      WHEN 'pg_foreign_data_wrapper'::regclass THEN (
        SELECT concat_ws(' | ', 'handler ' || w.fdwhandler::regproc::text,
                         'validator ' || w.fdwvalidator::regproc::text,
                         'owner ' || pg_get_userbyid(w.fdwowner), 'acl ' || w.fdwacl::text,
                         'options ' || w.fdwoptions::text)
        FROM pg_foreign_data_wrapper w WHERE w.oid = d.objid)
      WHEN 'pg_type'::regclass THEN (
        SELECT concat_ws(' | ', 'type ' || t.typtype::text, 'owner ' || pg_get_userbyid(t.typowner),
                         'acl ' || t.typacl::text)
        FROM pg_type t WHERE t.oid = d.objid)
    END,
    (SELECT 'comments ' || string_agg(ds.objsubid || ': ' || ds.description, '; ' ORDER BY ds.objsubid)
     FROM pg_description ds WHERE ds.classoid = d.classid AND ds.objoid = d.objid)) AS definition
FROM pg_depend d JOIN pg_extension e ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid
WHERE e.extname = 'mixpeek' AND d.deptype = 'e'
ORDER BY 1
"""

EXTENSION_ROW = """
SELECT extversion, extnamespace::regnamespace::text, extrelocatable,
       (SELECT array_agg(c::regclass::text ORDER BY 1) FROM unnest(extconfig) AS c), extcondition
FROM pg_extension WHERE extname = 'mixpeek'
"""


def members(conn):
    return dict(mx.query(conn, MEMBERS))


def psql_dx(conninfo):
    rc, out, err = run([binary("psql"), "-X", "-d", conninfo, "-c", r"\dx+ mixpeek"], "psql \\dx+")
    return out if rc == 0 else "psql failed: " + err


def compare_objects(conn, conninfo, ref_members, ref_ext, ref_dx, what):
    got = members(conn)
    mx.check(len(got) >= 4, "%s: the extension has members" % what, sorted(got))
    mx.check_eq(sorted(got), sorted(ref_members), "%s: the same member objects as a fresh install" % what)
    for obj in sorted(set(got) & set(ref_members)):
        mx.check(got[obj] == ref_members[obj], "%s: %s is defined as in a fresh install" % (what, obj),
                 (got[obj], ref_members[obj]))
    mx.check_eq(mx.query(conn, EXTENSION_ROW), ref_ext, "%s: pg_extension row (version, schema, config tables)" % what)
    mx.check_eq(psql_dx(conninfo), ref_dx, "%s: \\dx+ mixpeek" % what)


def conninfo(db, **kw):
    parts = ["dbname=%s" % db] + ["%s=%s" % kv for kv in kw.items()]
    return " ".join(parts)


# ---------- a second cluster ----------

class Cluster:
    """A cluster of this test's own (initdb in a temporary directory, Unix
    socket only, trust auth), preloading the library and pointed at the mock."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mx_upg_cluster.")
        os.chmod(self.dir, 0o755)
        self.as_pg = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.as_pg = ["runuser", "-u", "postgres", "--"]
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "server.log")
        self.port = "5432"
        self.started = False
        atexit.register(self.stop)
        rc, _, _ = run(self.as_pg + [binary("initdb"), "-D", self.data, "-U", "postgres", "-A", "trust",
                                     "--no-sync"], "initdb")
        if rc != 0:
            raise RuntimeError("initdb failed")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("port = %s\nlisten_addresses = ''\nunix_socket_directories = '%s'\n"
                    "shared_preload_libraries = 'mixpeek'\nmixpeek.base_url = '%s'\n"
                    "mixpeek.api_key = 'sk_test_alpha'\nmixpeek.namespace = 'default'\nfsync = off\nautovacuum = off\n"
                    "max_connections = 20\nshared_buffers = 16MB\n"
                    % (self.port, self.dir, mx.MOCK_URL))
        rc, _, _ = run(self.as_pg + [binary("pg_ctl"), "-D", self.data, "-l", self.log, "-w", "-t", "120",
                                     "start"], "pg_ctl start")
        if rc != 0:
            with open(self.log) as f:
                mx.log(f.read()[-3000:])
            raise RuntimeError("the new cluster did not start")
        self.started = True

    def env(self):
        e = dict(os.environ, PGHOST=self.dir, PGPORT=self.port, PGUSER="postgres")
        e.pop("PGPASSWORD", None)
        return e

    def connect(self, db, user="postgres"):
        c = mx.psycopg2.connect(dbname=db, host=self.dir, port=self.port, user=user)
        c.autocommit = True
        return c

    def conninfo(self, db, user="postgres"):
        return conninfo(db, host=self.dir, port=self.port, user=user)

    def stop(self):
        if self.started:
            run(self.as_pg + [binary("pg_ctl"), "-D", self.data, "-m", "fast", "-w", "stop"], "pg_ctl stop")
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)


# ===========================================================================

before = None                           # the answers of 0.1.0
ref_members = ref_ext = ref_dx = None   # a fresh install's objects
cluster = None                          # the cluster restored into


def need_cluster():
    if cluster is None:
        raise mx.Skip("no new cluster (test_07_new_cluster)")


class Upgrade(mx.TestCase):
    """The steps of an upgrade and a restore, in order.  Each step works on
    what the ones before it left (a fresh install to compare with, 0.1.0
    installed and its answers, the update, the dumps, the new cluster), so
    a case does not run alone: run the file, or the cases from test_01 up
    to the one wanted.  Set-up (the role, the databases) and clean-up once
    for the file."""

    @classmethod
    def setUpClass(cls):
        global su, DEFAULT, old, fresh, alice, dump_c, dump_p
        su = mx.fdw_superuser()
        DEFAULT = mx.scalar(su, "SELECT default_version FROM pg_available_extensions WHERE name = 'mixpeek'")
        mx.log("default version %s, upgrading from %s" % (DEFAULT, OLD))
        reset_outer()
        mx.query(su, "CREATE ROLE %s LOGIN PASSWORD '%s'" % (ROLE, ROLE_PW))
        mx.query(su, "CREATE DATABASE %s" % DB_OLD)
        mx.query(su, "CREATE DATABASE %s" % DB_FRESH)
        old = mx.connect(dbname=DB_OLD)
        fresh = mx.connect(dbname=DB_FRESH)
        alice = mx.connect(dbname=DB_OLD, user=ROLE, password=ROLE_PW)
        tmp = tempfile.mkdtemp(prefix="mx_upg_dump.")
        atexit.register(shutil.rmtree, tmp, True)
        os.chmod(tmp, 0o755)
        dump_c, dump_p = os.path.join(tmp, "old.dump"), os.path.join(tmp, "old.sql")

    @classmethod
    def tearDownClass(cls):
        for c in (alice, fresh):
            c.close()
        if cluster is not None:
            cluster.stop()
        old.close()
        reset_outer()
        mx.log("  %.1f s in all" % (time.monotonic() - T0))

    def test_01_fresh_install(self):
        """a fresh install of the default version"""
        global ref_members, ref_ext, ref_dx
        mx.query(fresh, "CREATE EXTENSION mixpeek")
        mx.check_eq(mx.scalar(fresh, "SELECT extversion FROM pg_extension WHERE extname = 'mixpeek'"), DEFAULT,
                    "fresh install's version")
        ref_members = members(fresh)
        ref_ext = mx.query(fresh, EXTENSION_ROW)
        ref_dx = psql_dx(conninfo(DB_FRESH))
        mx.log("  %d member objects: %s" % (len(ref_members), ", ".join(sorted(ref_members))))
        mx.check("foreign-data wrapper mixpeek_fdw" in ref_dx, "\\dx+ lists the wrapper", ref_dx)

    def test_02_install_old_version(self):
        """install the old version and build on it"""
        global before
        mx.check(DEFAULT != OLD, "the default version is not %s" % OLD, DEFAULT)
        mx.query(old, "CREATE EXTENSION mixpeek VERSION '%s'" % OLD)
        mx.check_eq(mx.scalar(old, "SELECT extversion FROM pg_extension WHERE extname = 'mixpeek'"), OLD,
                    "installed version")
        populate(old, alice, mx.MOCK_URL.replace("127.0.0.1", "localhost"))
        before = answers(old)
        for name, _ in QUERIES:
            rows = before[name]
            mx.check(isinstance(rows, list) and len(rows) > 0 and rows[0][0] not in (None, 0),
                     "%s: %s returns data" % (OLD, name), str(rows)[:300])
        mx.check_eq(len(before["articles"]), 20, "%s: all 20 articles" % OLD)
        mx.check_eq([r[0] for r in before["mv_docs"]], ["doc_flat_01", "doc_flat_02"], "%s: mv_docs" % OLD)

    def test_03_alter_extension_update(self):
        """ALTER EXTENSION mixpeek UPDATE"""
        mx.check_eq(mx.query(old, "SELECT path FROM pg_extension_update_paths('mixpeek') "
                                  "WHERE source = %s AND target = %s", (OLD, DEFAULT)),
                    [("%s--%s" % (OLD, DEFAULT),)], "a direct update path")
        t = time.monotonic()
        mx.query(old, "ALTER EXTENSION mixpeek UPDATE")
        mx.log("  updated in %.0f ms" % ((time.monotonic() - t) * 1000))
        mx.check_eq(mx.scalar(old, "SELECT extversion FROM pg_extension WHERE extname = 'mixpeek'"), DEFAULT,
                    "version after the update")

    def test_04_after_update_queries_and_refresh(self):
        """after the update: queries, REFRESH MATERIALIZED VIEW"""
        check_answers(answers(old), before, "updated")
        refresh_all(old, alice, "updated")
        check_answers(answers(old), before, "updated, refreshed")
        # a session opened before the update keeps working
        mx.check_eq(mx.query(alice, QUERIES[-1][1]), before["mv_news"], "the role's session reads its view")

    def test_05_after_update_objects(self):
        """after the update: the extension's objects equal a fresh install's"""
        compare_objects(old, conninfo(DB_OLD), ref_members, ref_ext, ref_dx, "updated")

    def test_06_pg_dump(self):
        """pg_dump -Fc and -Fp of the updated database"""
        alice.close()
        fresh.close()
        t = time.monotonic()
        rc, _, err = run([binary("pg_dump"), "-Fc", "-f", dump_c, "-d", DB_OLD], "pg_dump -Fc")
        mx.check(rc == 0 and err == "", "pg_dump -Fc: no error, no message", err)
        rc, _, err = run([binary("pg_dump"), "-Fp", "-f", dump_p, "-d", DB_OLD], "pg_dump -Fp")
        mx.check(rc == 0 and err == "", "pg_dump -Fp: no error, no message", err)
        with open(dump_p) as f:
            plain = f.read()
        mx.log("  dumped in %.0f ms (%d bytes of SQL)" % ((time.monotonic() - t) * 1000, len(plain)))
        mx.check("CREATE EXTENSION IF NOT EXISTS mixpeek" in plain, "the dump creates the extension")
        mx.check("CREATE FOREIGN DATA WRAPPER" not in plain and "mixpeek_fdw_handler()" not in plain,
                 "the dump leaves the extension's own objects to CREATE EXTENSION")
        for obj in ("CREATE SERVER mx_upg_srv", "CREATE USER MAPPING FOR %s" % ROLE,
                    "CREATE FOREIGN TABLE public.articles", "CREATE FOREIGN TABLE imported.frames",
                    "REFRESH MATERIALIZED VIEW public.mv_news"):
            mx.check(obj in plain, "the dump has %s" % obj)

    def test_07_new_cluster(self):
        """a new cluster"""
        global cluster
        t = time.monotonic()
        cluster = Cluster()
        mx.log("  initdb and start in %.0f ms" % ((time.monotonic() - t) * 1000))

    def test_08_pg_restore(self):
        """pg_restore --exit-on-error into the new cluster"""
        need_cluster()
        nsu = cluster.connect("postgres")
        # roles are not in a database's dump (pg_dumpall --globals-only has them)
        mx.query(nsu, "CREATE ROLE %s LOGIN" % ROLE)
        for db in (DB_OLD, DB_OLD + "_plain", DB_FRESH):
            mx.query(nsu, "CREATE DATABASE %s" % db)
        seq = mx.mock_last_seq()
        t = time.monotonic()
        rc, out, err = run([binary("pg_restore"), "--exit-on-error", "-d", DB_OLD, dump_c], "pg_restore",
                           env=cluster.env())
        mx.log("  restored in %.0f ms" % ((time.monotonic() - t) * 1000))
        mx.check(rc == 0, "pg_restore exits 0", err)
        mx.check_eq(err + out, "", "pg_restore prints nothing (no error, no warning)")
        reqs = [r for r in mx.mock_requests(since=seq) if r["path"].startswith("/v1/")]
        mx.check(len(reqs) > 0 and all(200 <= r["status"] < 300 or r["path"].endswith("/doc_missing")
                                       for r in reqs),
                 "pg_restore's REFRESH of the materialized views fetched through the mock",
                 [(r["path"], r["status"]) for r in reqs][:10])
        mx.check("beta" in {r.get("identity") for r in reqs},
                 "the role's view was refreshed with the role's key during the restore",
                 sorted({str(r.get("identity")) for r in reqs}))
        nsu.close()

    def test_09_restored_database(self):
        """the restored database"""
        need_cluster()
        new = cluster.connect(DB_OLD)
        mx.query(new, "ALTER ROLE %s PASSWORD NULL" % ROLE)
        new_alice = cluster.connect(DB_OLD, user=ROLE)
        mx.check_eq(mx.scalar(new, "SELECT extversion FROM pg_extension WHERE extname = 'mixpeek'"), DEFAULT,
                    "restored extension's version")
        check_answers(answers(new), before, "restored")
        refresh_all(new, new_alice, "restored")
        check_answers(answers(new), before, "restored, refreshed")
        mx.check_eq(mx.query(new_alice, QUERIES[-1][1]), before["mv_news"], "the role reads its view")
        nfresh = cluster.connect(DB_FRESH)
        mx.query(nfresh, "CREATE EXTENSION mixpeek")
        new_ref = members(nfresh)
        mx.check_eq(new_ref, ref_members, "a fresh install in the new cluster equals the first one")
        compare_objects(new, cluster.conninfo(DB_OLD), new_ref, mx.query(nfresh, EXTENSION_ROW),
                        psql_dx(cluster.conninfo(DB_FRESH)), "restored")
        new_alice.close()
        nfresh.close()
        new.close()

    def test_10_plain_dump(self):
        """a plain-format dump through psql -v ON_ERROR_STOP=1"""
        need_cluster()
        rc, out, err = run([binary("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", DB_OLD + "_plain",
                            "-f", dump_p], "psql -f dump", env=cluster.env())
        mx.check(rc == 0, "psql exits 0", err)
        mx.check_eq(err, "", "psql prints no error or warning")
        plainc = cluster.connect(DB_OLD + "_plain")
        check_answers(answers(plainc), before, "plain restore")
        plainc.close()


if __name__ == "__main__":
    mx.main("test_upgrade")
