/*
 * secret.c - Kubernetes Secrets of type kubernetes.io/dockerconfigjson,
 * the form imagePullSecret refers to (reference section 3.5).
 *
 * The decoded contents are credentials: no message ever quotes them, and
 * their memory is wiped when freed.
 */
#include "plugins/internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define DOCKERCONFIGJSON "kubernetes.io/dockerconfigjson"
#define DOCKERCONFIG_KEY ".dockerconfigjson"

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Standard base64 with padding, as Go's StdEncoding (which also skips
 * '\r' and '\n'). malloc'ed, NUL-terminated; NULL when invalid. */
static char *b64_decode(const char *in, size_t len, size_t *out_len)
{
    char *out = malloc(len / 4 * 3 + 4);
    if (!out)
        return NULL;
    size_t n = 0, quad = 0, pad = 0;
    uint32_t acc = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '\r' || c == '\n')
            continue;
        if (c == '=') {
            pad++;
            acc <<= 6;
            quad++;
        } else {
            int v = b64_value(c);
            if (v < 0 || pad) {
                free(out);
                return NULL;
            }
            acc = (acc << 6) | (uint32_t)v;
            quad++;
        }
        if (quad == 4) {
            if (pad > 2) {
                free(out);
                return NULL;
            }
            out[n++] = (char)(acc >> 16);
            if (pad < 2)
                out[n++] = (char)(acc >> 8);
            if (pad < 1)
                out[n++] = (char)acc;
            quad = 0;
            acc = 0;
            if (pad) {
                /* padding only at the very end */
                for (size_t j = i + 1; j < len; j++) {
                    if (in[j] != '\r' && in[j] != '\n') {
                        free(out);
                        return NULL;
                    }
                }
                break;
            }
        }
    }
    if (quad != 0) {
        free(out);
        return NULL;
    }
    out[n] = '\0';
    *out_len = n;
    return out;
}

static void wipe_free(char *p, size_t len)
{
    if (!p)
        return;
    explicit_bzero(p, len);
    free(p);
}

wg_plugins_secret *wg_plugins_read_secret(reader *r, const node *root, wg_plugins_doc *doc)
{
    static const char *const top_keys[] = {"apiVersion", "kind",       "metadata",  "type",
                                           "data",       "stringData", "immutable", NULL};
    size_t before = r->nerrors;
    wg_plugins_secret *s = calloc(1, sizeof *s);
    if (!s) {
        wg_config_reader_error(r, root, "out of memory");
        return NULL;
    }
    s->document = doc->index;
    s->file = strdup(doc->file);
    wg_config_read_mapping(r, root, top_keys);
    wg_plugins_check_api_version(r, root, "Secret", "v1");
    wg_plugins_read_metadata(r, root, doc, &s->name, &s->namespace, NULL);

    char *type = NULL;
    wg_config_read_string(r, root, "type", false, &type);
    if (r->nerrors == before && (!type || strcmp(type, DOCKERCONFIGJSON) != 0)) {
        wg_config_reader_warning(r, root,
                                 "Secret of type %s ignored (only " DOCKERCONFIGJSON
                                 " image pull secrets are used)",
                                 type ? type : "Opaque");
        free(type);
        wg_plugins_secret_free(s);
        return NULL;
    }
    free(type);

    /* stringData wins over data, as the API server merges them. */
    const node *sd = wg_config_yaml_get(root, "stringData");
    const node *data = wg_config_yaml_get(root, "data");
    const node *value = NULL;
    bool encoded = false;
    if (sd && !wg_config_yaml_is_null(sd)) {
        size_t saved = wg_config_reader_key(r, "stringData");
        if (wg_config_read_mapping(r, sd, NULL))
            value = wg_config_yaml_get(sd, DOCKERCONFIG_KEY);
        wg_config_reader_restore(r, saved);
    }
    if (!value && data && !wg_config_yaml_is_null(data)) {
        size_t saved = wg_config_reader_key(r, "data");
        if (wg_config_read_mapping(r, data, NULL)) {
            value = wg_config_yaml_get(data, DOCKERCONFIG_KEY);
            encoded = value != NULL;
        }
        wg_config_reader_restore(r, saved);
    }
    size_t saved = wg_config_reader_key(r, encoded ? "data" : "stringData");
    size_t s2 = wg_config_reader_key(r, DOCKERCONFIG_KEY);
    if (!value || wg_config_yaml_is_null(value)) {
        wg_config_reader_restore(r, saved);
        wg_config_reader_error(
            r, root, "data[\"" DOCKERCONFIG_KEY "\"] is required for type " DOCKERCONFIGJSON);
    } else if (value->kind != WG_CONFIG_YAML_SCALAR) {
        wg_config_reader_error(r, value, "expected a string");
    } else if (encoded) {
        s->docker_config = b64_decode(value->text, value->len, &s->docker_config_len);
        if (!s->docker_config)
            wg_config_reader_error(r, value, "not valid base64");
    } else {
        s->docker_config = malloc(value->len + 1);
        if (s->docker_config) {
            memcpy(s->docker_config, value->text, value->len + 1);
            s->docker_config_len = value->len;
        }
    }
    if (s->docker_config) {
        json_error_t jerr;
        json_t *j = json_loadb(s->docker_config, s->docker_config_len, 0, &jerr);
        /* jerr.text may quote the input: not reported */
        if (!j || !json_is_object(j))
            wg_config_reader_error(r, value, "the docker config is not a JSON object");
        json_decref(j);
        explicit_bzero(&jerr, sizeof jerr);
    }
    wg_config_reader_restore(r, s2);
    wg_config_reader_restore(r, saved);

    if (!s->file && r->nerrors == before)
        wg_config_reader_error(r, root, "out of memory");
    if (r->nerrors != before) {
        wg_plugins_secret_free(s);
        return NULL;
    }
    return s;
}

void wg_plugins_secret_free(wg_plugins_secret *s)
{
    if (!s)
        return;
    free(s->name);
    free(s->namespace);
    free(s->file);
    wipe_free(s->docker_config, s->docker_config_len);
    free(s);
}
