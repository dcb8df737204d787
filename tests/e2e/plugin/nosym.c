/* nosym.c — a test plugin (tests/t_plugin.sh) with the ABI symbol but no entry: refused. */
#include <clsweep/plugin.h>
const uint32_t clsweep_plugin_abi = CLSWEEP_PLUGIN_ABI;
