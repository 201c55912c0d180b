/* address - not written yet */
#include "autoconf.h"
#include "address.h"
