/*
 * config.c - deep copies of pw_plugin_config.
 *
 * A VM keeps its configuration for its whole life, and a plugin slot keeps
 * one to create fresh VMs after a failure; both take a copy so the caller's
 * strings can go away. The copy is one allocation (the struct, then the
 * pointer arrays, then every string and byte buffer), freed with free().
 */
#include "abi/internal.h"

#include <stdlib.h>
#include <string.h>

static size_t str_size(const char *s) { return strlen(s ? s : "") + 1; }

static size_t strv_size(const char *const *v, int n)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += str_size(v[i]);
    return total;
}

/* Bump allocation inside the block. */
typedef struct cursor {
    char *p;
} cursor;

static char *put_str(cursor *c, const char *s)
{
    size_t n = str_size(s);
    char *d = c->p;
    memcpy(d, s ? s : "", n);
    c->p += n;
    return d;
}

static uint8_t *put_bytes(cursor *c, const uint8_t *b, size_t n)
{
    uint8_t *d = (uint8_t *)c->p;
    if (n)
        memcpy(d, b, n);
    c->p += n;
    return d;
}

static const char *const *put_strv(cursor *c, char **slots, const char *const *v, int n)
{
    for (int i = 0; i < n; i++)
        slots[i] = put_str(c, v[i]);
    return (const char *const *)slots;
}

pw_plugin_config *pw_config_dup(const pw_plugin_config *src)
{
    int nenv = src->nenv > 0 ? src->nenv : 0;
    int nlabels = src->node.nlabels > 0 ? src->node.nlabels : 0;
    size_t pointers = (size_t)nenv + 2 * (size_t)nlabels;
    size_t strings = str_size(src->name) + str_size(src->root_id) + str_size(src->vm_id) +
                     str_size(src->node.id) + str_size(src->node.cluster) +
                     str_size(src->node.namespace_) + strv_size(src->env, nenv) +
                     strv_size(src->node.label_keys, nlabels) +
                     strv_size(src->node.label_values, nlabels);
    size_t bytes = src->configuration_len + src->vm_configuration_len;
    size_t total = sizeof(pw_plugin_config) + pointers * sizeof(char *) + strings + bytes;
    pw_plugin_config *dst = malloc(total);
    if (!dst)
        return NULL;
    *dst = *src;
    dst->nenv = nenv;
    dst->node.nlabels = nlabels;
    char **slots = (char **)(dst + 1);
    cursor c = {(char *)(slots + pointers)};
    dst->name = put_str(&c, src->name);
    dst->root_id = put_str(&c, src->root_id);
    dst->vm_id = put_str(&c, src->vm_id);
    dst->node.id = put_str(&c, src->node.id);
    dst->node.cluster = put_str(&c, src->node.cluster);
    dst->node.namespace_ = put_str(&c, src->node.namespace_);
    dst->env = put_strv(&c, slots, src->env, nenv);
    dst->node.label_keys = put_strv(&c, slots + nenv, src->node.label_keys, nlabels);
    dst->node.label_values = put_strv(&c, slots + nenv + nlabels, src->node.label_values,
                                      nlabels);
    dst->configuration = put_bytes(&c, src->configuration, src->configuration_len);
    dst->vm_configuration = put_bytes(&c, src->vm_configuration, src->vm_configuration_len);
    return dst;
}
