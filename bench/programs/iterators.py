# The Python spelling of each chain: lazy map/filter/islice/chain with a function called per
# element, as the Shape program calls a closure per element.
import itertools
from functools import reduce

nums = [i for i in range(480000)]
squares = list(itertools.islice(filter(lambda x: x % 3 == 1, map(lambda x: x * x, nums)), 120000))
total = reduce(lambda acc, x: acc + x,
               map(lambda x: x % 1000, filter(lambda x: x % 7 != 0, range(720000))), 0)
steps = list(map(lambda p: p[1] - p[0],
                 filter(lambda p: p[0] % 50 == 0, enumerate(itertools.islice(nums, 100, None)))))
words = ["alpha", "beta", "gamma", "delta", "epsilon"]
vowels = sum(1 for _ in filter(lambda c: c in "aeiou",
                               itertools.chain.from_iterable(map(lambda i: list(words[i % 5]),
                                                                 range(9600)))))
both = reduce(lambda acc, x: acc + x,
              itertools.chain(itertools.islice(nums, 72000), map(lambda x: -x, range(72000))), 0)
found = next(filter(lambda x: x > 2400000, map(lambda x: x * 7, nums)), None)
checks = [any(map(lambda x: x > 479990, nums)), all(map(lambda x: x >= 0, nums)),
          sum(1 for _ in filter(lambda x: x % 2 == 0, nums))]
print(len(squares), squares[119999], total, len(steps), steps[10], vowels, both, found,
      "[" + ", ".join(str(c).lower() for c in checks) + "]")
