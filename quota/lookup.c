/* lookup - not written yet */
#include "autoconf.h"
#include "lookup.h"
