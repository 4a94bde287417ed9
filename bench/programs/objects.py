people = []
for i in range(360000):
    people.append({"id": i, "age": (i * 37) % 90, "score": 0})
total = 0
for p in people:
    p["score"] = p["age"] * 2 + p["id"] % 5
    total += p["score"]
oldest = people[0]
for p in people:
    if p["age"] > oldest["age"]:
        oldest = p
print(total, oldest["id"], len(people))
