# pg_mixpeek: PGXS build.  `make`, `make install`; tests: see README.

MODULE_big = mixpeek
OBJS = \
	src/analyze.o \
	src/api.o \
	src/batch_join.o \
	src/budget.o \
	src/check.o \
	src/columns.o \
	src/connection.o \
	src/control.o \
	src/convert.o \
	src/cursor_set.o \
	src/deparse.o \
	src/fdw.o \
	src/float_bounds.o \
	src/functions.o \
	src/http.o \
	src/id_fetch.o \
	src/import.o \
	src/json.o \
	src/json_depth.o \
	src/mixpeek.o \
	src/modify.o \
	src/options.o \
	src/paging.o \
	src/percent.o \
	src/retriever.o \
	src/retry_after.o \
	src/search.o \
	src/settings.o \
	src/stats.o \
	src/upper.o
EXTENSION = mixpeek
DATA = mixpeek--0.1.0.sql mixpeek--0.2.0.sql mixpeek--0.1.0--0.2.0.sql
PGFILEDESC = "mixpeek - query Mixpeek documents from PostgreSQL"

# make installcheck: against a running server that preloads the library
# (shared_preload_libraries = 'mixpeek'), with the bundled mock Mixpeek API
# running (node test/mock/mixpeek-mock.js --port 0, or test/run-tests.sh).
# MIXPEEK_MOCK_URL is the mock's address; the sessions of the tests get it
# as mixpeek.base_url, the mock's test key as mixpeek.api_key and the
# namespace "default" as mixpeek.namespace (the API requires one) through
# PGOPTIONS, so the server's own settings (a real key) are never used.
# make installcheck REGRESS=fdw_scan runs one file.
REGRESS = $(basename $(notdir $(sort $(wildcard sql/*.sql))))
REGRESS_OPTS = --load-extension=mixpeek
MIXPEEK_TEST_KEY ?= sk_test_alpha

PG_CPPFLAGS = -Isrc $(shell pkg-config --cflags libcurl jansson)
SHLIB_LINK = $(shell pkg-config --libs libcurl jansson)
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

installcheck: installcheck-mock
installcheck: export MIXPEEK_MOCK_URL := $(MIXPEEK_MOCK_URL)
installcheck: export MIXPEEK_MOCK_CONTROL ?= $(MIXPEEK_MOCK_URL)/_mock
installcheck: export PGOPTIONS += -c mixpeek.base_url=$(MIXPEEK_MOCK_URL) -c mixpeek.api_key=$(MIXPEEK_TEST_KEY) -c mixpeek.namespace=default

.PHONY: installcheck-mock
installcheck-mock:
	@if [ -z "$(MIXPEEK_MOCK_URL)" ]; then \
	  echo "make installcheck: set MIXPEEK_MOCK_URL to the address of the mock Mixpeek API, e.g." >&2; \
	  echo "  node test/mock/mixpeek-mock.js --port 0 --port-file /tmp/mock.port &" >&2; \
	  echo "  make installcheck MIXPEEK_MOCK_URL=http://127.0.0.1:\$$(cat /tmp/mock.port)" >&2; \
	  echo "against a server with mixpeek in shared_preload_libraries (test/run-tests.sh does all of it)" >&2; \
	  exit 2; \
	fi

# every src/*.c is in OBJS
$(if $(filter-out $(OBJS),$(patsubst %.c,%.o,$(wildcard src/*.c))),\
  $(error src/ has C files that OBJS does not list: $(filter-out $(OBJS),$(patsubst %.c,%.o,$(wildcard src/*.c)))))

# PGXS does not track header dependencies; the modules share structs.
$(OBJS): $(wildcard src/*.h)

# make dist: $(EXTENSION)-<version>.zip of the committed tree (HEAD), for PGXN
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)
DISTFILE ?= $(EXTENSION)-$(EXTVERSION).zip

.PHONY: dist
dist:
	git archive --format zip --prefix=$(EXTENSION)-$(EXTVERSION)/ --output $(DISTFILE) HEAD
