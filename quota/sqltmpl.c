/* sqltmpl - not written yet */
#include "autoconf.h"
#include "sqltmpl.h"
