# Wire format v1 codec (common/vg_wire.c).
vg_add_test(test_wire SOURCES test_wire.c LIBS vg_common)
