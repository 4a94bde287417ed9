import itertools

nums = list(range(8000))
squares = list(itertools.islice((x for x in (x * x for x in nums) if x % 3 == 1), 2000))
total = 0
for x in (x % 1000 for x in range(12000) if x % 7 != 0):
    total = total + x
steps = [p[1] - p[0] for p in enumerate(nums[100:]) if p[0] % 50 == 0]
words = ["alpha", "beta", "gamma", "delta", "epsilon"]
vowels = sum(1 for c in (c for i in range(160) for c in list(words[i % 5])) if c in "aeiou")
both = 0
for x in itertools.chain(itertools.islice(nums, 1200), (-x for x in range(1200))):
    both = both + x
found = next((x for x in (x * 7 for x in nums) if x > 40000), None)
checks = [any(x > 7990 for x in nums), all(x >= 0 for x in nums), sum(1 for x in nums if x % 2 == 0)]
print(len(squares), squares[1999], total, len(steps), steps[10], vowels, both, found,
      "[" + ", ".join(str(c).lower() for c in checks) + "]")
