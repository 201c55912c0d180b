/* resolve - not written yet */
#include "autoconf.h"
#include "resolve.h"
