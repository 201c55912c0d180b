#include "autoconf.h"
#include "workers.h"
