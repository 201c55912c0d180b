/* engine - not written yet */
#include "autoconf.h"
#include "engine.h"
