"""The Streamlit server's runtime, which draws nothing: the st.App that app.py serves, its
lifespan (the embedded worker), its routes (the upload route), the services shared by every
session of the process, and the switch that keeps Streamlit's legacy pages-folder mode off.

Pages may use the process's services and upload desk from here; components never import it.
"""
