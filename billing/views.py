from django.shortcuts import render


def placeholder(request, title="Artio"):
    return render(request, "placeholder.html", {"title": title})
