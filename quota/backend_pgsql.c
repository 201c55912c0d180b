#include "autoconf.h"
#include "backend.h"
