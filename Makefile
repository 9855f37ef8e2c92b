# pg_mixpeek: PGXS build.  `make`, `make install`; tests: see README.

MODULE_big = mixpeek
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
EXTENSION = mixpeek
DATA = mixpeek--0.1.0.sql mixpeek--0.2.0.sql mixpeek--0.1.0--0.2.0.sql
PGFILEDESC = "mixpeek - query Mixpeek documents from PostgreSQL"

REGRESS = $(basename $(notdir $(sort $(wildcard sql/*.sql))))
REGRESS_OPTS = --load-extension=mixpeek

PG_CPPFLAGS = -Isrc $(shell pkg-config --cflags libcurl)
SHLIB_LINK = $(shell pkg-config --libs libcurl)
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS does not track header dependencies; the modules share structs.
$(OBJS): $(wildcard src/*.h)

# make dist: $(EXTENSION)-<version>.zip of the committed tree (HEAD), for PGXN
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)
DISTFILE ?= $(EXTENSION)-$(EXTVERSION).zip

.PHONY: dist
dist:
	git archive --format zip --prefix=$(EXTENSION)-$(EXTVERSION)/ --output $(DISTFILE) HEAD
