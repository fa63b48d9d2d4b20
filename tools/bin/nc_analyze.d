tools/bin/nc_analyze: tools/nc_analyze.c include/ncollapse.h
include/ncollapse.h:
