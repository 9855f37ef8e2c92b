/*-------------------------------------------------------------------------
 *
 * settings.h
 *		The mixpeek.* configuration parameters and the API key rules.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIXPEEK_SETTINGS_H
#define MIXPEEK_SETTINGS_H

#include "api.h"
#include "mixpeek_limits.h"

#define MIXPEEK_VERSION "0.2.0"

extern char *mx_api_key;
extern char *mx_namespace;
extern char *mx_base_url;
extern int	mx_timeout_ms;
extern int	mx_connect_timeout_ms;
extern int	mx_max_retries;
extern int	mx_max_concurrency;
extern int	mx_page_size;
extern int	mx_max_response_kb;
extern int	mx_count_cache_ms;

/*
 * mixpeek.pushdown: what a foreign scan may send.  Ordered, so that a part
 * of certainty c is sent when c <= mx_pushdown (deparse.c classifies).
 */
typedef enum MxPushdown
{
	MX_PUSHDOWN_OFF,
	MX_PUSHDOWN_SAFE,			/* exact under strict and lenient rules */
	MX_PUSHDOWN_ALL				/* also what only lenient rules keep exact */
} MxPushdown;

extern int	mx_pushdown;
extern bool mx_aggregate_pushdown;	/* upper.c; also off with pushdown off */
extern bool mx_batch_join;		/* batch_join.c; also off with pushdown off */
extern char *mx_allowed_hosts;

extern void mx_settings_init(void);

/*
 * The rules for values that reach a request's URL or headers, shared by the
 * settings' check hooks, the FDW validator and the use of stored options:
 * NULL when the value is fine, else a sentence for errdetail.  None of them
 * quotes the value.
 */
extern const char *mx_api_key_problem(const char *key);
extern const char *mx_namespace_problem(const char *namespace);
extern const char *mx_base_url_problem(const char *url);

/* Does s hold a control character (C0 or DEL)? */
extern bool mx_has_control_chars(const char *s);

/*
 * May a role that is not a superuser send requests to the host of url (a
 * valid base_url)?  Yes for the host of mixpeek.base_url and for the hosts
 * of mixpeek.allowed_hosts.
 */
extern bool mx_host_allowed(const char *url);

/* base_url without trailing slashes, palloc'd */
extern char *mx_normalize_base_url(const char *url);

/*
 * Target built from the settings, for mixpeek_document() and for foreign
 * servers without their own base_url.  Raises 28000 with a hint when no
 * key is available, and 22023 with a hint when no namespace is set (the
 * API requires X-Namespace).  The _for_check variant leaves a missing
 * namespace to mixpeek_check() to report.
 */
extern MxTarget *mx_settings_target(void);
extern MxTarget *mx_settings_target_for_check(void);

/*
 * Raises 22023 "no Mixpeek namespace is set" with a hint when namespace is
 * NULL or empty; servername names the foreign server the namespace was
 * looked up for (NULL: the settings alone).
 */
extern void mx_require_namespace(const char *namespace, const char *servername);

/* Does the list of libraries in the setting name this library? */
extern bool mx_library_listed_in(const char *setting_name);

/* The settings' key if usable (preloaded library, set), else NULL. */
extern const char *mx_settings_api_key(void);

/* text with the key masked (palloc'd), or text itself when it has none */
extern char *mx_mask_key(char *text, const char *key);

#endif							/* MIXPEEK_SETTINGS_H */
