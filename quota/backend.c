/* backend - not written yet */
#include "autoconf.h"
#include "backend.h"
