# Evaluation: NAB scoring, SMD metrics, data set readers, the seasonal model and its calibration,
# and vigilctl eval end to end on small slices of the data sets (tests/data/*-slice).
vg_add_test(test_eval_nab SOURCES test_eval_nab.c LIBS vg_eval)
