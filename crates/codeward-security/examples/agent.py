# An agent program with one honest mistake and one hidden one.
import os as o
import base64

notes = demo.notes_search(query="deploy")
print("never call os.system() from here")  # just a string
o.system("./deploy.sh")
exec(base64.b64decode("cHJpbnQoJ2hpJyk="))
