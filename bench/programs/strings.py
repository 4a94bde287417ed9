s = ""
parts = []
for i in range(60000):
    word = f"item{i % 97}"
    if i % 3 == 0:
        s = s + word.upper()
    else:
        s = s + word
    if i % 100 == 0:
        parts.append(word.rjust(8, "*"))
print(len(s), len(",".join(parts)), s[0:20])
