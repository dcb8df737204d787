/* yamlnode.c — located errors and node names for the sweep-file parsers (yamlnode.h).
 * Called by the sweep layer's key parsers (prune_cfg.c, protocol.c). */
#include <stdarg.h>
#include <stdio.h>

#include "util.h"
#include "yamlnode.h"

int yn_fail(const char *path, const yaml_node_t *n, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cls_seterr("%s:%zu:%zu: %s", path, n->start_mark.line + 1, n->start_mark.column + 1, msg);
    return -1;
}

const char *yn_txt(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

const char *yn_kind(const yaml_node_t *n) {
    return n->type == YAML_SCALAR_NODE ? yn_txt(n) : n->type == YAML_SEQUENCE_NODE ? "a list"
                                                                                 : "a mapping";
}
