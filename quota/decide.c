/* decide - not written yet */
#include "autoconf.h"
#include "decide.h"
