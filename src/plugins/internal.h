/*
 * internal.h - shared by the files of the plugins layer only.
 */
#ifndef WG_PLUGINS_INTERNAL_H
#define WG_PLUGINS_INTERNAL_H

#include "plugins/plugins.h"

typedef wg_config_reader reader;
typedef wg_config_yaml_node node;

/* Where a document comes from, and the label errors carry after the
 * position: "document 2" then, once metadata was read,
 * "document 2 (default/auth)". */
typedef struct wg_plugins_doc {
    const char *file;
    const char *dir; /* the file's directory, for relative file:// URLs */
    unsigned index;  /* 1-based */
    char label[320];
} wg_plugins_doc;

/* plugin_config.c: pluginConfig (absent, null or a mapping) as the JSON
 * text Istio hands the plugin. Reports problems through r (whose path is
 * at pluginConfig); false when any was reported. */
bool wg_plugins_config_to_json(reader *r, const node *cfg, char **out, size_t *out_len);
/* The spec without pluginConfig as canonical JSON (keys sorted): two
 * manifests with the same text differ in pluginConfig at most. False (out
 * NULL) when the spec cannot be converted; it then matches nothing. */
bool wg_plugins_spec_fingerprint(const node *spec, char **out);

/* manifest.c / secret.c: one document whose kind was recognised; NULL
 * after reporting errors (or when a Secret is of an ignored type). Both
 * read metadata first and then set doc->label and r->context. */
wg_manifest *wg_plugins_read_wasmplugin(reader *r, const node *root, wg_plugins_doc *doc);
wg_plugins_secret *wg_plugins_read_secret(reader *r, const node *root, wg_plugins_doc *doc);
void wg_plugins_manifest_free(wg_manifest *m);
void wg_plugins_secret_free(wg_plugins_secret *s);

/* metadata.name / metadata.namespace of a Kubernetes object, validated;
 * sets doc->label and r->context. false after reporting an error. */
bool wg_plugins_read_metadata(reader *r, const node *root, wg_plugins_doc *doc, char **name,
                              char **ns, char **resource_version);

/* Checks apiVersion; false after reporting. */
bool wg_plugins_check_api_version(reader *r, const node *root, const char *kind,
                                  const char *expected);

#endif /* WG_PLUGINS_INTERNAL_H */
