# Collectors: rate arithmetic, and each collector run over the fixture trees in data/proc.
vg_add_test(test_rate SOURCES test_rate.c LIBS vg_collectors)
vg_add_test(test_collectors SOURCES test_collectors.c LIBS vg_collectors)
vg_add_test(test_fsspace SOURCES test_fsspace.c LIBS vg_collectors)
