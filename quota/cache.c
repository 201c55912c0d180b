/* cache - not written yet */
#include "autoconf.h"
#include "cache.h"
