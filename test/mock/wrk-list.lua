-- wrk script for the mock's list endpoint: POST .../documents/list?limit=100
-- usage: wrk -t2 -c16 -d10s -s test/mock/wrk-list.lua http://127.0.0.1:PORT/v1/collections/col_big/documents/list?limit=100
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer sk_test_alpha"
wrk.headers["X-Namespace"] = "default"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{}'
