/* badabi.c — a test plugin (tests/t_plugin.sh) built for a future plugin ABI: refused. */
#include <clsweep/plugin.h>
const uint32_t clsweep_plugin_abi = CLSWEEP_PLUGIN_ABI + 998;
const void *clsweep_plugin_entry(void);
const void *clsweep_plugin_entry(void) { return 0; }
