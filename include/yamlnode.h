/* yamlnode.h — small helpers for the sweep-file parsers of the sweep layer (prune_cfg.c,
 * protocol.c): a located error for a YAML node and how to name a node in a message. */
#ifndef CLSWEEP_YAMLNODE_H
#define CLSWEEP_YAMLNODE_H

#include <yaml.h>

/* Sets cls_seterr "path:line:col: message" at node n (1-based); returns -1. */
int yn_fail(const char *path, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The text of scalar node n. */
const char *yn_txt(const yaml_node_t *n);

/* n's text when it is a scalar, else "a list" or "a mapping" (for "expected ..., got X"). */
const char *yn_kind(const yaml_node_t *n);

#endif
