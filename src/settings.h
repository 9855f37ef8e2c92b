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

#define MIXPEEK_VERSION "0.1.0"
#define MIXPEEK_DEFAULT_BASE_URL "https://api.mixpeek.com"

extern char *mx_api_key;
extern char *mx_namespace;
extern char *mx_base_url;
extern int	mx_timeout_ms;
extern int	mx_connect_timeout_ms;
extern int	mx_max_retries;
extern int	mx_max_concurrency;
extern int	mx_page_size;
extern int	mx_max_response_kb;
extern bool mx_pushdown;

extern void mx_settings_init(void);

/* base_url without trailing slashes, palloc'd */
extern char *mx_normalize_base_url(const char *url);

/*
 * Target built from the settings, for mixpeek_document() and for foreign
 * servers without their own base_url.  Raises 28000 with a hint when no
 * key is available.
 */
extern MxTarget *mx_settings_target(void);

/* The settings' key if usable (preloaded library, set), else NULL. */
extern const char *mx_settings_api_key(void);

/* text with the key masked (palloc'd), or text itself when it has none */
extern char *mx_mask_key(char *text, const char *key);

#endif							/* MIXPEEK_SETTINGS_H */
