/* maildirsize - not written yet */
#include "autoconf.h"
#include "maildirsize.h"
