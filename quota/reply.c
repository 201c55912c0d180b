/* reply - not written yet */
#include "autoconf.h"
#include "reply.h"
