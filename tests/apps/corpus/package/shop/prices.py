PRICES = {"apple": 1, "pear": 2}
