from webapp import create_app
from webapp.activity.display import warm_up

app = create_app()
warm_up()  # in each worker before its first request, not during it
