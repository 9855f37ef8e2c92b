"""mixpeek_lineage() and mixpeek_object_documents() against the mock.

The lineage of documents of both shapes (flat lineage_chain, nested
_internal.lineage.chain) row by row; a missing document gives no rows, a
missing collection and a wrong key raise their SQLSTATEs; an awkward id
reaches the mock percent-encoded.  The documents of an object, with and
without a collection filter; mixpeek_stats counts both kinds of request.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mxtest as mx  # noqa: E402

LINEAGE = ("SELECT step, collection_id, document_id, feature_extractor, "
           "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), detail::text "
           "FROM mixpeek_lineage(%s, %s)")


def setUpModule():
    global su
    su = mx.setup_extension()
    mx.query(su, "SET mixpeek.namespace = 'default'")


def ids(rows):
    return [r[0] for r in rows]


class Lineage(mx.TestCase):

    def test_01_flat_document(self):
        """a flat document: its lineage_chain, one step"""
        mx.check_eq(mx.query(su, LINEAGE, ("col_articles", "doc_flat_01")), [
            (1, "col_articles", None, "text_extractor_v1", "2024-03-01 10:00:00",
             '{"timestamp": "2024-03-01T10:00:00Z", "collection_id": "col_articles", '
             '"feature_extractor_id": "text_extractor_v1"}'),
        ], "rows of doc_flat_01")

    def test_02_nested_document(self):
        """a nested document: _internal.lineage.chain, two steps, by collection name"""
        mx.check_eq(mx.query(su, LINEAGE, ("frames", "doc_frame_003")), [
            (1, "col_articles", "doc_flat_02", "text_extractor_v1", "2024-03-01 10:00:00",
             '{"timestamp": "2024-03-01T10:00:00Z", "document_id": "doc_flat_02", '
             '"collection_id": "col_articles", "feature_extractor_id": "text_extractor_v1"}'),
            (2, "col_frames", None, "image_extractor_v1", "2024-08-03 10:00:00",
             '{"timestamp": "2024-08-03T10:00:00Z", "collection_id": "col_frames", '
             '"feature_extractor_id": "image_extractor_v1"}'),
        ], "rows of doc_frame_003")
        mx.check_eq(mx.query(su, "SELECT step, created_at = '2024-03-01 10:00:00+00' "
                                 "FROM mixpeek_lineage('col_articles', 'doc_nested_01')"),
                    [(1, True)], "doc_nested_01: one step, a timestamptz")

    def test_03_missing_document(self):
        """a missing document: no rows, and exactly one request"""
        seq = mx.mock_last_seq()
        mx.check_eq(mx.query(su, LINEAGE, ("col_articles", "no_such_doc")), [], "no rows")
        log = mx.mock_requests(since=seq)
        mx.check_eq([(r["method"], r["path"], r["status"]) for r in log],
                    [("GET", "/v1/collections/col_articles/documents/no_such_doc/lineage", 404)],
                    "the mock's log")

    def test_04_awkward_id(self):
        """an awkward id reaches the mock percent-encoded"""
        seq = mx.mock_last_seq()
        mx.check_eq(ids(mx.query(su, "SELECT step FROM mixpeek_lineage('col_articles', %s)",
                                 ("doc/with/slash",))), [1], "doc/with/slash has one step")
        mx.check_eq(ids(mx.query(su, "SELECT step FROM mixpeek_lineage('col_articles', %s)",
                                 ("doc?x=1&y=2",))), [1], "doc?x=1&y=2 has one step")
        mx.check_eq(ids(mx.query(su, "SELECT step FROM mixpeek_lineage('col_articles', '..')")),
                    [1], ".. has one step")
        paths = [r["path"] for r in mx.mock_requests(since=seq)]
        mx.check_eq(paths, ["/v1/collections/col_articles/documents/doc%2Fwith%2Fslash/lineage",
                            "/v1/collections/col_articles/documents/doc%3Fx%3D1%26y%3D2/lineage",
                            "/v1/collections/col_articles/documents/%2E%2E/lineage"],
                    "raw paths at the mock")

    def test_05_errors(self):
        """a missing collection is 42704, a wrong key 28000, an empty id 22023"""
        mx.expect_error(su, "SELECT * FROM mixpeek_lineage('no_such_collection', 'doc_flat_01')",
                        None, "42704", r"HTTP 404 \(NotFoundError: Collection not found\)")
        mx.expect_error(su, "SELECT * FROM mixpeek_lineage('col_articles', '')",
                        None, "22023", "document id must not be empty")
        mx.query(su, "SET mixpeek.api_key = 'sk_wrong'")
        try:
            mx.expect_error(su, "SELECT * FROM mixpeek_lineage('col_articles', 'doc_flat_01')",
                            None, "28000", "HTTP 401")
            mx.expect_error(su, "SELECT * FROM mixpeek_object_documents('obj_article_001')",
                            None, "28000", "HTTP 401")
        finally:
            mx.query(su, "RESET mixpeek.api_key")


class ObjectDocuments(mx.TestCase):

    DOCS = ("SELECT d ->> 'collection_id', d ->> 'document_id' "
            "FROM mixpeek_object_documents(%s, %s) d")

    def test_01_every_collection(self):
        """every document of an object, both shapes, across collections"""
        mx.check_eq(mx.query(su, self.DOCS, ("obj_article_001", None)), [
            ("col_articles", "doc_flat_01"), ("col_articles", "doc_nested_01"),
            ("col_frames", "doc_frame_001"), ("col_frames", "doc_frame_002"),
        ], "obj_article_001")
        mx.check_eq(mx.query(su, "SELECT d FROM mixpeek_object_documents('obj_article_001') d "
                                 "WHERE d ->> 'document_id' = 'doc_nested_01'"),
                    mx.query(su, "SELECT mixpeek_document('col_articles', 'doc_nested_01')"),
                    "each document whole, as mixpeek_document() has it")
        mx.check_eq(mx.query(su, self.DOCS, ("obj_big_000042", None)),
                    [("col_big", "doc_000042")], "a generated document")
        mx.check_eq(mx.query(su, self.DOCS, ("obj_nothing", None)), [], "no documents")

    def test_02_some_collections(self):
        """collections => ...: collection_ids repeated, NULLs and repeats dropped"""
        seq = mx.mock_last_seq()
        mx.check_eq(mx.query(su, self.DOCS, ("obj_article_001", ["frames"])),
                    [("col_frames", "doc_frame_001"), ("col_frames", "doc_frame_002")], "frames only")
        mx.check_eq(mx.query(su, self.DOCS, ("obj_article_010", ["col_frames", None, "col_articles",
                                                                 "col_frames"])),
                    [("col_articles", "doc/with/slash"), ("col_frames", "doc_frame_004")], "both")
        mx.check_eq(mx.query(su, self.DOCS, ("obj_article_001", [])), [], "an empty filter")
        mx.check_eq(mx.query(su, self.DOCS, (None, None)), [], "no object")
        log = mx.mock_requests(since=seq)
        mx.check_eq([(r["path"], r["raw_query"]) for r in log], [
            ("/v1/objects/obj_article_001/documents", "collection_ids=frames"),
            ("/v1/objects/obj_article_010/documents", "collection_ids=col_articles&collection_ids=col_frames"),
        ], "two requests; none for an empty filter or no object")
        mx.expect_error(su, "SELECT * FROM mixpeek_object_documents('obj_article_001', ARRAY['nope'])",
                        None, "42704", "Collection not found")

    def test_03_awkward_object_id(self):
        """an awkward object id reaches the mock percent-encoded"""
        seq = mx.mock_last_seq()
        mx.check_eq(mx.query(su, self.DOCS, ("obj/a b?c", ['Weird "Name"; drop'])), [],
                    "no documents")
        mx.check_eq([r["path"] + "?" + r["raw_query"] for r in mx.mock_requests(since=seq)],
                    ["/v1/objects/obj%2Fa%20b%3Fc/documents?collection_ids=Weird%20%22Name%22%3B%20drop"],
                    "raw path and query at the mock")


class Stats(mx.TestCase):

    def test_01_stats_count_the_new_kinds(self):
        """mixpeek_stats counts get_lineage and object_documents"""
        mx.query(su, "SELECT mixpeek_stats_reset()")
        mx.query(su, "SELECT count(*) FROM mixpeek_lineage('col_articles', 'doc_flat_01')")
        mx.query(su, "SELECT count(*) FROM mixpeek_lineage('col_articles', 'no_such_doc')")
        mx.query(su, "SELECT count(*) FROM mixpeek_object_documents('obj_article_001')")
        mx.check_eq(mx.query(su, "SELECT kind, requests, errors_4xx FROM mixpeek_stats "
                                 "WHERE datname = current_database() ORDER BY kind"),
                    [("get_lineage", 2, 1), ("object_documents", 1, 0)],
                    "(kind, requests, 4xx)")


if __name__ == "__main__":
    mx.main('test_lineage')
