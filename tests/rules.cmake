# Alert rules (rules/): loading and its error messages, expressions, matchers, templates, alert
# state. Fixtures in data/rules/; the shipped examples in rules/examples are loaded too.
vg_add_test(test_rules SOURCES test_rules.c LIBS vg_rules)
